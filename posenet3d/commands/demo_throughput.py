"""The demo's throughput mode (``--throughput``): a folder of images → one JSON-lines file, images decoded in the
background and the people of ``--batch-images`` images batched together; sharded under ``torchrun``.

    torchrun --nproc_per_node 2 -m posenet3d.cli demo --input shots/ --throughput --output out/

Writes ``<output>/results.jsonl`` (one line per image in the sorted input order, :mod:`posenet3d.collection`);
no drawings. Under torchrun every rank loads the model, estimates its share (rank r of W: image groups
``r::W``) and rank 0 writes the merged file, equal to a single process's.
"""
from __future__ import annotations

import json
import sys
import time

from posenet3d.collection import collect_lines
from posenet3d.distributed import from_environment
from posenet3d.media import InputItem

RESULTS_FILE = "results.jsonl"


def run_throughput(est, items: list[InputItem], out, camera: dict, batch_images: int, camera_of) -> int:
    """Estimate the image ``items`` and write ``results.jsonl`` in ``out`` (an ``OutputFolder``) on rank 0.
    ``camera``: the command line's intrinsics (``{}``: each image's ``camera_of(path)``). Exit code: 0, or 1 when
    any image failed or an input is not an image."""
    ctx = from_environment([])
    videos = [i for i in items if i.kind != "image"]
    images = [i for i in items if i.kind == "image"]
    for v in videos:
        print(f"FAILED {v.path}: --throughput takes images; run videos without it", file=sys.stderr)
    target = out.folder / RESULTS_FILE
    item = InputItem(out.folder, "image")
    try:
        out.check(item, [target])  # before any work, on every rank alike (no rank waits for a refused one)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    lines = collect_lines(est, [i.path for i in images], batch_images=batch_images,
                          camera=(lambda p: camera) if camera else camera_of, ctx=ctx)
    if lines is None:  # not rank 0
        return 0
    seconds = time.perf_counter() - t0
    out.folder.mkdir(parents=True, exist_ok=True)
    with out.writing(item, [target]) as (tmp,):
        tmp.write_text("".join(line + "\n" for line in lines))
    failed = sum("error" in json.loads(line) for line in lines)
    processes = ctx.world_size if ctx is not None else 1
    print(f"{len(images) - failed} of {len(images)} images → {target} in {seconds:.1f} s "
          f"({len(images) / max(seconds, 1e-9):.2f} images/s, {processes} process(es), {batch_images} images per "
          f"batch); {failed} failed")
    return 1 if failed or videos else 0
