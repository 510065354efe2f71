"""Pre-render a training set's people into a sample pool: each person re-cropped once into a small image.

    posenet3d pool --src data/Synthetic/train --dst data/Synthetic/train_pool --size 208

The pool is a dataset in the MuCo-3DHP layout (``<dst>/data/MuCo-3DHP.json`` + ``<dst>/data/images/*.jpg``), one
annotated person per image, with the 2D joints, box and focal length mapped exactly, so the MuCo adapter, codec
and augmentation read it unchanged and a training sample costs a small JPEG decode instead of a full image
(:mod:`posenet3d.datasets.pool`; docs/training.md).
"""
from __future__ import annotations

import logging
import sys

from posenet3d.commands import command_parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--src", required=True, help="a training set in the MuCo-3DHP layout")
    p.add_argument("--dst", required=True, help="where to write the pool (MuCo-3DHP layout)")
    p.add_argument("--size", type=int, default=208, help="pool image side (px); ≥ 1.6 × the network input")
    p.add_argument("--margin", type=float, default=1.6, help="pool crop side / processed box side")
    args = p.parse_args(argv)
    if args.size < 16 or not args.margin >= 1.0:
        print(f"{p.prog}: error: --size must be >= 16 px and --margin >= 1 (got {args.size}, {args.margin})",
              file=sys.stderr)
        return 2
    from posenet3d.datasets.base import DatasetError
    from posenet3d.datasets.pool import build_pool
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        n = build_pool(args.src, args.dst, args.size, args.margin)
    except (DatasetError, OSError) as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote a pool of {n} people to {args.dst}")
    return 0
