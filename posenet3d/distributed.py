"""Process groups for training on one GPU, several GPUs, several nodes, or the CPU.

* ``--gpu 0-3`` (or ``0,1,2,3``): :func:`launch` starts one process per listed GPU itself (NCCL).
* ``torchrun`` (env:// rendezvous: ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``):
  the process joins the group torchrun describes. With ``--gpu`` local rank *i* uses the *i*-th listed GPU
  (NCCL); without ``--gpu`` it trains on the CPU (gloo), as in a single process.
* no GPU: one CPU process (or several with gloo, as the tests do).

Collectives go through the helpers here, which put every tensor on the run's device first: NCCL has no backend
for CPU tensors (gloo accepts both, which is why CPU tests alone never catch a CPU tensor in a CUDA run).

Errors raised by this toolkit in a spawned worker (a bad config, a missing file, a stop on a signal) reach the
caller of :func:`launch` as the same exception, not as a ``ProcessRaisedException`` traceback. A SIGTERM or
SIGINT that reaches the launching process is passed on to the workers as SIGTERM, so they stop together at a
safe point (see :mod:`posenet3d.stopping`).
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

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
    """Where this process runs: its rank among ``world_size`` processes and its device (``cuda:i`` or cpu)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

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


def _device_and_backend(gpus: list[int], local_rank: int) -> tuple[torch.device, str]:
    if not gpus:
        return torch.device("cpu"), "gloo"
    device = torch.device("cuda", gpus[local_rank])
    torch.cuda.set_device(device)
    return device, "nccl"


def from_environment(gpus: list[int]) -> DistContext | None:
    """The context torchrun describes in the environment, joining its process group; None if not under torchrun.

    Local rank *i* uses ``gpus[i]``; with no ``gpus`` every process runs on the CPU (gloo)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(len(gpus) or 1)))
    if gpus and local_world != len(gpus):
        raise GpuSpecError(f"--gpu lists {len(gpus)} GPU(s) {gpus} but torchrun started {local_world} process(es) "
                           "on this node: make --nproc_per_node equal the number of GPUs in --gpu")
    device, backend = _device_and_backend(gpus, local)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world)
    return DistContext(rank, world, local, device)


def _forwardable(exc: BaseException) -> bool:
    """The toolkit's own exceptions (one-line messages for the user) travel from a worker to the launcher."""
    mod = type(exc).__module__ or ""
    if mod.split(".")[0] not in ("posenet3d", "rootnet"):
        return False
    try:
        pickle.loads(pickle.dumps(exc))
    except (pickle.PickleError, TypeError, AttributeError, ValueError):
        return False
    return True


def _worker(local_rank: int, fn: Callable, world_size: int, gpus: list[int], port: int, args: tuple,
            errors) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(local_rank),
                      LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world_size))
    device, backend = _device_and_backend(gpus, local_rank)
    dist.init_process_group(backend, init_method="env://", rank=local_rank, world_size=world_size)
    from .stopping import TrainingInterrupted
    try:
        fn(DistContext(local_rank, world_size, local_rank, device), *args)
    except TrainingInterrupted as exc:  # every rank stops at the same step: a clean exit, reported by rank 0
        if local_rank == 0:
            errors.put(exc)
    except BaseException as exc:
        if _forwardable(exc):
            errors.put(exc)
        raise
    finally:
        dist.destroy_process_group()


def _spawn(fn: Callable, world: int, gpus: list[int], args: tuple) -> None:
    """One process per worker; signals to this process are passed on as SIGTERM; the first worker's own
    exception is re-raised here as it is."""
    errors = mp.get_context("spawn").SimpleQueue()
    context = mp.start_processes(_worker, args=(fn, world, gpus, _free_port(), args, errors), nprocs=world,
                                 join=False, start_method="spawn")

    def forward(signum, frame):  # workers stop together at their next safe point
        for p in context.processes:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    from .stopping import handle_signals
    try:
        with handle_signals(forward):
            while not context.join():
                pass
    except (mp.ProcessRaisedException, mp.ProcessExitedException):
        if not errors.empty():
            raise errors.get() from None
        raise
    if not errors.empty():
        raise errors.get()


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
        _spawn(fn, world, gpus, args)
        return
    device, _ = _device_and_backend(gpus, 0)
    fn(DistContext(0, 1, 0, device), *args)


# ---------------------------------------------------------------------------------------------- collectives --
# Every tensor goes to ctx.device first: the device NCCL needs (CUDA), and the CPU for gloo.

def all_reduce_sum(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The sum of ``value`` over all processes, as a new tensor on ``ctx.device`` (a copy of it alone)."""
    value = value.detach().to(ctx.device, copy=True)
    if ctx.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of ``value`` over all processes, on ``ctx.device``."""
    return all_reduce_sum(value, ctx) / ctx.world_size


def any_process(flag: bool, ctx: DistContext) -> bool:
    """True on every process when ``flag`` is true on any of them (a collective: all processes must call it)."""
    if not ctx.distributed:
        return bool(flag)
    return bool(all_reduce_sum(torch.tensor([int(bool(flag))]), ctx).item() > 0)


def broadcast_int(value: int, ctx: DistContext) -> int:
    """Rank 0's ``value`` on every process."""
    if not ctx.distributed:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64, device=ctx.device)
    dist.broadcast(t, src=0)
    return int(t.item())


def gather_objects(obj, ctx: DistContext) -> list | None:
    """Every process's picklable ``obj`` on rank 0, in rank order; None on the other ranks (a collective)."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier(ctx: DistContext) -> None:
    """Wait for every process (no-op in a single process)."""
    if ctx.distributed:
        dist.barrier(device_ids=[ctx.device.index]) if ctx.device.type == "cuda" else dist.barrier()
