"""Images per second over a folder: the per-image loop against throughput mode, per backend.

    posenet3d bench throughput --input 'data/Synthetic/test/data/MultiPersonTestSet/*/*.jpg' --num 200
    posenet3d bench throughput --backends torch openvino --batch-images 1 8 --streams 1 2

The per-image loop reads each image and calls ``Estimator.estimate`` on it, one after the other (what the demo
does per image, without drawing). Throughput mode is :func:`posenet3d.collection.collect_lines`: images decoded
in a background thread while the networks run, ``--batch-images`` images per detector batch and their people in
shared RootNet/PoseNet batches, and with ``--streams`` S > 1 S batches at once, each on its share of the threads
(an estimator built with ``streams=S``). Both write nothing; both see the same images in the same order (the sorted
``--input`` images, the first ``--num``). The fp32 matmul rate is measured before and after (the machine may be
shared). One timed pass per figure after a warm-up on 4 images.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from posenet3d.collection import collect_lines
from posenet3d.commands import REPO, command_parser
from posenet3d.commands.bench.e2e import matmul_gflops, table
from posenet3d.estimator import Estimator
from posenet3d.media import discover_inputs, read_image


def per_image(est: Estimator, paths: list[Path]) -> float:
    """Seconds of the per-image loop over ``paths``."""
    t = time.perf_counter()
    for p in paths:
        est.estimate(read_image(p, orientation="exif"))
    return time.perf_counter() - t


def throughput(est: Estimator, paths: list[Path], batch_images: int) -> float:
    """Seconds of throughput mode over ``paths``."""
    t = time.perf_counter()
    collect_lines(est, paths, batch_images=batch_images)
    return time.perf_counter() - t


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--model-dir", type=Path, default=REPO / "demo" / "model")
    p.add_argument("--input", default=str(REPO / "data" / "Synthetic" / "test" / "data" / "MultiPersonTestSet" / "*"
                                          / "*.jpg"), help="images: a folder or a pattern (default: the synthetic "
                                                           "test split's 200 images)")
    p.add_argument("--num", type=int, default=200, help="first N images (default 200)")
    p.add_argument("--backends", nargs="+", default=["torch"], choices=("torch", "onnxruntime", "openvino"))
    p.add_argument("--batch-images", type=int, nargs="+", default=[8])
    p.add_argument("--streams", type=int, nargs="+", default=[1], help="throughput-mode streams (default 1)")
    p.add_argument("--det-keep-aspect", action="store_true", help="the detector on the keep-aspect canvas")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    args = p.parse_args(argv)
    if args.num < 1 or min(args.batch_images) < 1 or min(args.streams) < 1:
        p.error("--num, --batch-images and --streams must be >= 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    paths = [i.path for i in discover_inputs(args.input) if i.kind == "image" and i.error is None][:args.num]
    if not paths:
        p.error(f"--input {args.input}: no images")
    rate0 = matmul_gflops()
    rows = []
    options = {"det_keep_aspect": True} if args.det_keep_aspect else {}
    for backend in args.backends:
        est = Estimator.from_bundle(args.model_dir, backend=backend, **options)
        per_image(est, paths[:4])  # warm-up
        base = per_image(est, paths)
        rows.append([backend, "per-image loop", "1", "1", f"{len(paths) / base:.2f}", "1.00×"])
        for streams in args.streams:
            if streams > 1:
                est = Estimator.from_bundle(args.model_dir, backend=backend, streams=streams, **options)
                throughput(est, paths[:2 * streams], 1)  # warm-up: every stream's first call
            for n in args.batch_images:
                s = throughput(est, paths, n)
                rows.append([backend, "throughput mode", str(n), str(streams), f"{len(paths) / s:.2f}",
                             f"{base / s:.2f}×"])
    rate1 = matmul_gflops()
    print(f"# Throughput over {len(paths)} images ({args.input}), {args.model_dir}\n\ntorch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; fp32 matmul 2048²: {rate0:.1f} GFLOP/s before, {rate1:.1f} after\n")
    print(table(["backend", "mode", "images per batch", "streams", "images/s", "× per-image loop"], rows))
    return 0
