"""Process groups for training on one GPU, several GPUs, several nodes, or the CPU.

* ``--gpu 0-3`` (or ``0,1,2,3``): :func:`launch` starts one process per listed GPU itself (NCCL).
* ``torchrun`` (env:// rendezvous: ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``):
  the process joins the group torchrun describes; NCCL on CUDA, gloo on the CPU.
* no GPU: one CPU process (or several with gloo, as the tests do).
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


class GpuSpecError(ValueError):
    """``--gpu`` names GPUs that do not exist or is malformed."""


def parse_gpus(spec: str | None, available: int | None = None) -> list[int]:
    """``'0-3'`` → [0, 1, 2, 3]; ``'0,2'`` → [0, 2]; ``None``/``''``/``'cpu'`` → [] (CPU).

    Raises :class:`GpuSpecError` naming the GPUs that do not exist on this machine.
    """
    if spec is None or str(spec).strip().lower() in ("", "cpu", "none"):
        return []
    ids: list[int] = []
    try:
        for part in str(spec).split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if b < a:
                    raise ValueError
                ids.extend(range(a, b + 1))
            elif part:
                ids.append(int(part))
    except ValueError:
        raise GpuSpecError(f"--gpu {spec!r} is not a GPU list such as '0', '0-3' or '0,2'") from None
    if len(set(ids)) != len(ids) or any(i < 0 for i in ids):
        raise GpuSpecError(f"--gpu {spec!r} repeats a GPU or has a negative id")
    available = torch.cuda.device_count() if available is None else available
    missing = [i for i in ids if i >= available]
    if missing:
        raise GpuSpecError(f"--gpu {spec!r}: GPU {missing} not found; this machine has {available} CUDA "
                           f"device(s){' (none: leave out --gpu to train on the CPU)' if available == 0 else ''}")
    return ids


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def from_environment(gpus: list[int]) -> DistContext | None:
    """The context torchrun describes in the environment, joining its process group; None if not under torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available() and (gpus or not os.environ.get("POSENET3D_FORCE_CPU")):
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world)
    return DistContext(rank, world, local, device)


def _worker(local_rank: int, fn: Callable, world_size: int, gpus: list[int], port: int, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(local_rank),
                      LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world_size))
    if gpus:
        device = torch.device("cuda", gpus[local_rank])
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, init_method="env://", rank=local_rank, world_size=world_size)
    try:
        fn(DistContext(local_rank, world_size, local_rank, device), *args)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., None], gpus: list[int], args: tuple = (), cpu_processes: int = 1) -> None:
    """Run ``fn(ctx, *args)``: under torchrun in this process; with several GPUs (or ``cpu_processes`` > 1) in one
    spawned process per GPU/CPU worker; otherwise directly in this process."""
    ctx = from_environment(gpus)
    if ctx is not None:
        try:
            fn(ctx, *args)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
        return
    world = len(gpus) if gpus else cpu_processes
    if world > 1:
        mp.spawn(_worker, args=(fn, world, gpus, _free_port(), args), nprocs=world, join=True)
        return
    device = torch.device("cuda", gpus[0]) if gpus else torch.device("cpu")
    if gpus:
        torch.cuda.set_device(device)
    fn(DistContext(0, 1, 0, device), *args)


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.distributed:
        value = value.clone()
        dist.all_reduce(value)
        value /= ctx.world_size
    return value
