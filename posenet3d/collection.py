"""Throughput mode over a collection of images: background decoding, people of several images in one batch,
and sharded runs under ``torchrun`` that merge into one JSON-lines file.

The images are cut into **groups** of ``batch_images`` consecutive images (group *g* = images
``g·N … g·N + N − 1`` of the sorted list). A group is decoded in a background thread
(:func:`~posenet3d.media.prefetch`) while the networks run on the group before it, and is estimated in one go
(:meth:`~posenet3d.estimator.Estimator.estimate_many`: one detector batch, the people of all its images in shared
RootNet/PoseNet batches). Under ``torchrun --nproc_per_node W`` (env:// rendezvous, gloo on the CPU,
:func:`posenet3d.distributed.from_environment`) rank *r* takes the groups ``g ≡ r (mod W)`` — with
``batch_images`` = 1 exactly images ``r::W`` — and rank 0 gathers every rank's lines and writes the one file in
the images' order. Because a group is the same group whatever the number of processes, the merged file equals a
single process's line for line.

With an estimator built with ``streams`` = S > 1, S groups run at once in a process, each in a worker thread on
``threads // S`` CPU threads (torch releases the GIL inside its operators, ONNX Runtime and OpenVINO inside a run;
:mod:`posenet3d.runtime` gives every worker its own OpenVINO request): small networks keep one core busier than
they keep two. The lines are the same as with S = 1 (each group is still one ``estimate_many`` call).

Each line is one image: ``{"input": path, **EstimateResult.to_dict()}`` without ``timings_ms`` (stages are
shared by the images of a group, so per-image stage times mean nothing here), or ``{"input": path, "error":
message}`` for an image that could not be read — one bad image never loses the others' lines.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .distributed import DistContext, gather_objects
from .media import MediaError, prefetch, read_image


def shard_groups(n_images: int, batch_images: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """The image indices of the groups rank ``rank`` of ``world`` processes takes (module docstring)."""
    groups = [list(range(i, min(n_images, i + batch_images))) for i in range(0, n_images, batch_images)]
    return groups[rank::world]


def _decoded(paths: Sequence[Path], groups: list[list[int]]):
    for group in groups:
        decoded = []
        for i in group:
            try:
                decoded.append((i, read_image(paths[i], orientation="exif"), None))
            except (MediaError, OSError, ValueError) as exc:
                decoded.append((i, None, str(exc).strip() or type(exc).__name__))
        yield decoded


def result_line(path: Path, result) -> str:
    """One image's JSON line (module docstring)."""
    d = result.to_dict()
    d.pop("timings_ms", None)
    return json.dumps({"input": str(path), **d}, allow_nan=False)


def estimate_collection(est, paths: Sequence[str | os.PathLike], *, batch_images: int = 8,
                        camera: Callable[[Path], dict] | None = None,
                        ctx: DistContext | None = None) -> dict[int, str]:
    """This process's share of the collection: ``{image index: JSON line}`` (module docstring). ``camera(path)``
    gives each image's ``{"intrinsics": …}`` / ``{"focal": …}`` / ``{}``; an image whose camera cannot be read
    gets an error line."""
    paths = [Path(p) for p in paths]
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    lines: dict[int, str] = {}

    def estimate(decoded: list) -> dict[int, str]:  # one group (run in a stream's worker thread)
        out = _error_lines(paths, decoded, camera, good := [], cams := [])
        if good:
            results = est.estimate_many([im for _, im in good], cams, batch_images=len(good))
            out.update((i, result_line(paths[i], result)) for (i, _), result in zip(good, results))
        return out
    decoded = prefetch(_decoded(paths, shard_groups(len(paths), batch_images, rank, world)),
                       size=est.streams + 1)
    for group_lines in est.map_streams(estimate, decoded):
        lines.update(group_lines)
    return lines


def _error_lines(paths: list[Path], decoded: list, camera, good: list, cams: list) -> dict[int, str]:
    """Split one decoded group: readable images with their cameras go to ``good``/``cams``; returns the error
    lines of the others."""
    lines = {}
    for i, image, error in decoded:
        if error is None and camera is not None:
            try:
                cams.append(camera(paths[i]))
            except (MediaError, OSError, ValueError) as exc:
                error = str(exc)
        elif error is None:
            cams.append({})
        if error is None:
            good.append((i, image))
        else:
            lines[i] = json.dumps({"input": str(paths[i]), "error": error})
    return lines


def collect_lines(est, paths: Sequence[str | os.PathLike], *, batch_images: int = 8,
                  camera: Callable[[Path], dict] | None = None, ctx: DistContext | None = None) -> list[str] | None:
    """Estimate every image (this process's groups) and return, on rank 0, every image's JSON line in the images'
    order (gathered from all ranks); None on the other ranks. All ranks must call it (a collective)."""
    mine = estimate_collection(est, paths, batch_images=batch_images, camera=camera, ctx=ctx)
    parts = gather_objects(mine, ctx) if ctx is not None and ctx.distributed else [mine]
    if parts is None:
        return None
    merged: dict[int, str] = {}
    for part in parts:
        merged.update(part)
    return [merged[i] for i in range(len(paths))]


__all__ = ["collect_lines", "estimate_collection", "result_line", "shard_groups"]
