"""Measure the synthetic world generator's speed (images per second, or frames per second with --video).

    posenet3d bench synth --num 200 [--size 512] [--workers 2] [--seed 0]
    posenet3d bench synth --video --clips 4 --frames 150 [--fps 25] [--size 512] [--workers 0]

Prints three figures: rendering + JPEG encoding in this process (no disk), the full single-process
``generate`` (rendering, JPEG files, JSON files), and ``generate`` with ``--workers`` processes. With
``--video`` the same three for video clips (planning, drawing, encoding; then ``generate_video`` with all its
files). Pin the process to one core for the single-core figure, e.g. ``taskset -c 0 posenet3d bench synth``;
the load average of the machine is printed alongside, since other work on the same cores lowers the numbers.
"""
from __future__ import annotations

import os
import tempfile
import time

import cv2

from posenet3d.commands import command_parser
from posenet3d.synth import generate, render_scene, sample_camera
from posenet3d.synth.writer import JPEG_QUALITY, image_rng


def _encode(image) -> None:
    ok, _ = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")


def bench_render(num: int, size: int, seed: int) -> float:
    """Images per second for render_scene + JPEG encoding (in memory) in this process."""
    start = time.perf_counter()
    for i in range(num):
        rng = image_rng(seed, "train", i)
        image, _ = render_scene(rng, sample_camera(rng, size))
        _encode(image)
    return num / (time.perf_counter() - start)


def bench_video_render(clips: int, frames: int, fps: float, size: int, seed: int) -> float:
    """Frames per second for planning clips 1..``clips`` and drawing + JPEG-encoding their frames (in memory)."""
    from posenet3d.synth.video_plan import plan_clip
    from posenet3d.synth.video_render import clip_scenery, render_frame
    start = time.perf_counter()
    for clip in range(1, clips + 1):
        plan = plan_clip(seed, clip, frames, fps, size)
        scenery = clip_scenery(plan)
        for f in range(frames):
            _encode(render_frame(plan, scenery, f)[0])
    return clips * frames / (time.perf_counter() - start)


def bench_video_generate(clips: int, frames: int, fps: float, size: int, seed: int, workers: int) -> float:
    """Frames per second for generate_video() (all files written) into a temporary folder."""
    from posenet3d.synth.video import generate_video
    with tempfile.TemporaryDirectory(prefix="bench_synth_video_") as tmp:
        start = time.perf_counter()
        generate_video(tmp, clips, frames_per_clip=frames, fps=fps, seed=seed, size=size, workers=workers)
        return clips * frames / (time.perf_counter() - start)


def _video(args) -> None:
    what = f"{args.clips} clips x {args.frames} frames at {args.fps:g} fps, ~{args.size}px"
    print(f"video plan+draw+encode, 1 process, {what}: "
          f"{bench_video_render(args.clips, args.frames, args.fps, args.size, args.seed):.1f} frames/s")
    print(f"generate_video, 1 process (files written): "
          f"{bench_video_generate(args.clips, args.frames, args.fps, args.size, args.seed, 0):.1f} frames/s")
    if args.workers > 0:
        print(f"generate_video, {args.workers} worker processes: "
              f"{bench_video_generate(args.clips, args.frames, args.fps, args.size, args.seed, args.workers):.1f}"
              " frames/s")


def bench_generate(num: int, size: int, seed: int, workers: int) -> float:
    """Images per second for generate() (train split only) into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        start = time.perf_counter()
        generate(tmp, num_train=num, num_test=0, seed=seed, size=size, workers=workers)
        return num / (time.perf_counter() - start)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = command_parser(prog, __doc__)
    parser.add_argument("--num", type=int, default=200, help="images per measurement")
    parser.add_argument("--size", type=int, default=512, help="nominal image side in px")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="worker processes for the parallel figure (0 skips it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--video", action="store_true", help="measure video clips (frames/s) instead of images")
    parser.add_argument("--clips", type=int, default=4, help="with --video: clips per measurement")
    parser.add_argument("--frames", type=int, default=150, help="with --video: frames per clip")
    parser.add_argument("--fps", type=float, default=25.0, help="with --video: frame rate (frames/s)")
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    print(f"cores available to this process: {cores}; load average (1/5/15 min): "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.video:
        _video(args)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    print(f"render+encode, 1 process, {args.num} images at ~{args.size}px: "
          f"{bench_render(args.num, args.size, args.seed):.1f} images/s")
    print(f"generate, 1 process ({args.num} images written): "
          f"{bench_generate(args.num, args.size, args.seed, 0):.1f} images/s")
    if args.workers > 0:
        print(f"generate, {args.workers} worker processes: "
              f"{bench_generate(args.num, args.size, args.seed, args.workers):.1f} images/s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0
