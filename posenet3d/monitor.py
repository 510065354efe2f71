"""What a user watches while a run trains: TensorBoard scalars (optional), the gradient norm and the ETAs.

TensorBoard (``train.tensorboard: true``) is an optional extra (``pip install "posenet3d[tensorboard]"``): rank 0
writes event files under ``<output_dir>/log/<name>/tensorboard``; a resumed run purges the steps it trains again.
Steps are global iterations (``epoch × iterations per epoch + iteration``).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .config import Config, ConfigError


def require_tensorboard():
    """torch's ``SummaryWriter``; a :class:`ConfigError` saying how to install tensorboard when it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError(f"train.tensorboard: true needs the tensorboard package ({exc}): install it with "
                          "pip install \"posenet3d[tensorboard]\" (or pip install tensorboard), or set "
                          "train.tensorboard=false") from None
    return SummaryWriter


class Scalars:
    """A run's TensorBoard scalars, or nothing (``log_dir`` None: TensorBoard off, or not rank 0)."""

    def __init__(self, log_dir: Path | None = None, purge_step: int | None = None) -> None:
        self.writer = None if log_dir is None else require_tensorboard()(log_dir=str(log_dir), purge_step=purge_step)

    def add(self, group: str, values: dict[str, float], step: int) -> None:
        """``group/name`` = value for each entry, at global iteration ``step``."""
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{group}/{name}", value, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def grad_norm(model: nn.Module) -> torch.Tensor:
    """The global L2 norm of ``model``'s gradients (after DDP's all-reduce: the same on every process), as a
    0-d tensor on their device: reading it is left to the caller's one read per log interval."""
    norms = [torch.linalg.vector_norm(p.grad.detach().float()) for p in model.parameters() if p.grad is not None]
    if not norms:
        return torch.zeros((), device=next(model.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(norms))


def run_eta_s(cfg: Config, epoch: int, done: int, iters: int, s_per_iter: float, evaluations_left: int,
              eval_s: float) -> float:
    """Seconds until the run ends: the ``iters - done`` iterations left in ``epoch`` and every later epoch's at
    ``s_per_iter``, plus ``evaluations_left`` evaluations of ``eval_s`` each (the last one's duration; 0 before
    the first)."""
    left = (iters - done) + (cfg.train.end_epoch - epoch - 1) * iters
    return left * s_per_iter + evaluations_left * eval_s
