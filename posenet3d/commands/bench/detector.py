"""CPU latency of the CenterNet person detector per 512×512 image: network and decode timed separately.

    posenet3d bench detector [--archs res_18 resdcn_18] [--runs 5] [--size 512] [--threads N]

Batch 1, random weights (latency does not depend on them), ``torch.inference_mode``, eval mode. "network" is the
forward pass; "decode" is sigmoid + 3×3 peak pooling + top-K (K = 100) + box assembly. Each figure is the median
of ``--runs`` timed runs after ``--warmup`` untimed ones. The machine may be shared: use few runs and read the
spread (min–max) as well as the median.
"""
from __future__ import annotations

import platform
import statistics

import torch

from posenet3d.commands import command_parser
from posenet3d.detection.decode import decode
from posenet3d.detection.model import ARCHS, CenterNet, ctdet_heads
from posenet3d.timing import time_ms


def bench(arch: str, size: int, runs: int, warmup: int, k: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    model = CenterNet(arch, ctdet_heads(1), head_conv=64).eval()
    x = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        outputs = model(x)
        net = time_ms(lambda: model(x), runs, warmup)
        dec = time_ms(lambda: decode(outputs, k=k), runs, warmup)
    return {"network": net, "decode": dec}


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--archs", nargs="+", default=["res_18", "resdcn_18"], choices=sorted(ARCHS))
    p.add_argument("--size", type=int, default=512, help="input side (px); maps are size/4")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--k", type=int, default=100, help="top-K peaks decoded")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = leave torch's default)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.size % 32:
        p.error("--runs must be >= 1 and --size a multiple of 32")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    print(f"CenterNet CPU latency, batch 1, {args.size}x{args.size} input, median of {args.runs} runs "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu})")
    header = f"{'arch':<12}{'network ms':>12}{'(min-max)':>18}{'decode ms':>12}{'(min-max)':>16}{'total ms':>11}"
    print(header)
    print("-" * len(header))
    for arch in args.archs:
        r = bench(arch, args.size, args.runs, args.warmup, args.k)
        net, dec = statistics.median(r["network"]), statistics.median(r["decode"])
        print(f"{arch:<12}{net:>12.1f}{min(r['network']):>10.1f}-{max(r['network']):<7.1f}"
              f"{dec:>12.2f}{min(r['decode']):>9.2f}-{max(r['decode']):<6.2f}{net + dec:>11.1f}")
    return 0
