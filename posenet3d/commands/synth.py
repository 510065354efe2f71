"""Generate the synthetic multi-person 3D pose world (MuCo-3DHP / MuPoTS-3D / COCO-keypoints layouts).

Deterministic by seed: the same arguments give byte-identical files whatever the number of workers. Layout and
contents: data/Synthetic/README.md.

Examples:
  posenet3d synth --out data/Synthetic --num-train 6000 --num-test 200 --seed 0     # the README's data set
  posenet3d synth --out /tmp/tiny --num-train 20 --num-test 5 --seed 1 --size 256   # a small one for trying
"""
from __future__ import annotations

import json

from posenet3d.commands import command_parser
from posenet3d.synth.writer import generate


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = command_parser(prog, __doc__)
    parser.add_argument("--out", required=True, help="output folder, e.g. data/Synthetic")
    parser.add_argument("--num-train", type=int, required=True, help="number of training images")
    parser.add_argument("--num-test", type=int, required=True, help="number of test images")
    parser.add_argument("--seed", type=int, required=True, help="non-negative random seed")
    parser.add_argument("--size", type=int, default=512, help="nominal image side in px (default 512)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = this process)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        summary = generate(args.out, args.num_train, args.num_test, args.seed, size=args.size,
                           workers=args.workers, progress=not args.quiet)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(summary, indent=2))
    return 0

