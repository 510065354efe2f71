"""Generate the synthetic multi-person 3D pose world (MuCo-3DHP / MuPoTS-3D / COCO-keypoints layouts), or with
--video, clips of 2–8 people walking, crossing and entering and leaving the view (per clip: JPEG frames, a
MuPoTS-3D-layout file and a tracks file with persistent ids).

Deterministic by seed: the same arguments give byte-identical files whatever the number of workers. Layout and
contents: data/Synthetic/README.md (the video clips in its "Video" section). Bad arguments: one line on stderr,
exit code 2.

Examples:
  posenet3d synth --out data/Synthetic --num-train 6000 --num-test 200 --seed 0     # the README's data set
  posenet3d synth --out /tmp/tiny --num-train 20 --num-test 5 --seed 1 --size 256   # a small one for trying
  posenet3d synth --video --out data/SyntheticVideo --clips 10 --frames 150 --fps 25 --seed 0
  posenet3d synth --video --out /tmp/clip --clips 1 --frames 50 --size 256 --seed 3 # one short clip
"""
from __future__ import annotations

import argparse
import json

from posenet3d.commands import command_parser

_VIDEO_ONLY = ("clips", "frames", "fps")


def _parser(prog: str | None) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__)

    def one_line_error(message: str) -> None:
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    parser.error = one_line_error  # one line instead of argparse's usage block
    parser.add_argument("--out", required=True, help="output folder, e.g. data/Synthetic")
    parser.add_argument("--seed", type=int, required=True, help="non-negative random seed")
    parser.add_argument("--size", type=int, default=512, help="nominal image side in px (default 512)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = this process)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    still = parser.add_argument_group("still images")
    still.add_argument("--num-train", type=int, help="number of training images")
    still.add_argument("--num-test", type=int, help="number of test images")
    video = parser.add_argument_group("video clips (--video)")
    video.add_argument("--video", action="store_true", help="generate video clips instead of still images")
    video.add_argument("--clips", type=int, help="number of clips (>= 1)")
    video.add_argument("--frames", type=int, help="frames per clip (>= 20, default 150)")
    video.add_argument("--fps", type=float, help="frame rate in frames/s (1-240, default 25)")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.video:
        if args.num_train is not None or args.num_test is not None:
            parser.error("--num-train/--num-test are for still images; with --video give --clips (and --frames, --fps)")
        if args.clips is None:
            parser.error("--video needs --clips N")
    else:
        given = [f"--{name}" for name in _VIDEO_ONLY if getattr(args, name) is not None]
        if given:
            parser.error(f"{', '.join(given)} only apply with --video")
        if args.num_train is None or args.num_test is None:
            parser.error("give --num-train N and --num-test M (or --video with --clips N)")
    try:
        if args.video:
            from posenet3d.synth.video import generate_video
            summary = generate_video(args.out, args.clips, frames_per_clip=150 if args.frames is None else args.frames,
                                     fps=25.0 if args.fps is None else args.fps, seed=args.seed, size=args.size,
                                     workers=args.workers, progress=not args.quiet)
        else:
            from posenet3d.synth.writer import generate
            summary = generate(args.out, args.num_train, args.num_test, args.seed, size=args.size,
                               workers=args.workers, progress=not args.quiet)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(summary, indent=2))
    return 0
