"""PoseNet training throughput (samples/s) per variant: forward + backward + Adam on random crops.

    posenet3d bench train                       # CPU: the reference R50 and the lighter CPU variants
    posenet3d bench train --device cuda --amp   # GPU with AMP (bf16 where supported, else fp16)

The data pipeline is measured separately (posenet3d bench data); the data-wait fraction of real runs is in each
run's metrics.jsonl (``data_fraction``).
"""
from __future__ import annotations

import time

import torch

from posenet3d.commands import command_parser
from posenet3d.engine import amp_settings
from posenet3d.posenet.model import build_posenet, marginal_loss, posenet_loss

# (name, depth, width, input px, depth bins, head channels, batch)
VARIANTS = [
    ("reference R50 256² 64³", 50, 1.0, 256, 64, 256, 8),
    ("R18 128² 32³ (issue's first try)", 18, 1.0, 128, 32, 256, 16),
    ("R18 128² 32³, head 128", 18, 1.0, 128, 32, 128, 16),
    ("R18 ×0.5 128² 32³, head 128 (cfg/synthetic_posenet)", 18, 0.5, 128, 32, 128, 16),
]


def bench(depth, width, size, bins, head, batch, device, amp, steps, aux) -> float:
    model = build_posenet(depth, 21, bins, width, head).to(device).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    enabled, dtype = amp_settings(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=enabled and dtype == torch.float16)
    x = torch.randn(batch, 3, size, size, device=device)
    target = torch.rand(batch, 21, 3, device=device) * (size // 4 - 1)
    vis, has_depth = torch.ones(batch, 21, device=device), torch.ones(batch, device=device)
    for i in range(steps + 2):
        if i == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=enabled):
            coord, marg = model(x, return_marginals=True)
            loss = posenet_loss(coord, target, vis, has_depth).mean()
            if aux:
                loss = loss + marginal_loss(marg, target, vis, has_depth).mean()
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="autocast on CUDA")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, AMP {args.amp and device.type == 'cuda'}")
    print("| variant | batch | samples/s | with aux loss |\n|---|---|---|---|")
    for name, depth, width, size, bins, head, batch in VARIANTS:
        if device.type == "cuda":
            batch *= 4
        plain = bench(depth, width, size, bins, head, batch, device, args.amp, args.steps, aux=False)
        aux = bench(depth, width, size, bins, head, batch, device, args.amp, args.steps, aux=True)
        print(f"| {name} | {batch} | {plain:.1f} | {aux:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
