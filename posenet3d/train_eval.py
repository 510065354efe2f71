"""Evaluation during training (``train.eval_interval``) and the best snapshot.

Every ``train.eval_interval`` epochs (and after the last one) rank 0 runs the task's own test
(:meth:`posenet3d.task_base.Task.test`, the same code as ``main/test.py``) on the config's test set — or on its
first images holding ``test.max_samples`` people — with the model in eval mode. Everything training reads is put
back afterwards: the modules' train/eval flags and the Python, NumPy and torch (CPU and device) random states, so a
run with evaluation trains exactly the same weights as one without. The task's main figures
(:meth:`~posenet3d.task_base.Task.figures`) go to ``metrics.jsonl`` and the log; the task's ``main_metric``
(name, ``min``/``max``) decides which epoch's weights ``snapshot_best.pth.tar`` keeps.
"""
from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, best_snapshot_path, load_file, save_snapshot
from .config import Config
from .task_base import Task

log = logging.getLogger("posenet3d")


def eval_due(cfg: Config, epoch: int) -> bool:
    """Whether training evaluates after (0-based) ``epoch``: every ``train.eval_interval`` epochs and the last."""
    k = cfg.train.eval_interval
    return k > 0 and ((epoch + 1) % k == 0 or epoch + 1 == cfg.train.end_epoch)


def evaluations_from(cfg: Config, epoch: int) -> int:
    """How many evaluations training still runs after epochs ``epoch`` … ``end_epoch - 1``."""
    return sum(eval_due(cfg, e) for e in range(epoch, cfg.train.end_epoch))


@contextmanager
def preserved_training_state(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Run the body with ``model`` in eval mode; afterwards restore every module's train/eval flag and the
    Python, NumPy and torch random states (the CPU's and, on CUDA, ``device``'s)."""
    py, npy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    dev = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for m, training in modes:
            m.training = training
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(cpu)
        if dev is not None:
            torch.cuda.set_rng_state(dev, device)


def evaluate(task: Task, cfg: Config, model: nn.Module, device: torch.device, epoch: int
             ) -> tuple[dict[str, float], float]:
    """(the task's main figures, seconds taken) of ``model`` (not wrapped in DDP: this runs on rank 0 alone) on
    the config's test set. Result files are written as ``<name>_train_epoch<N>`` in ``<output_dir>/result``."""
    t0 = time.perf_counter()
    with preserved_training_state(model, device), torch.no_grad():
        results = task.test(cfg, model, device, f"train_epoch{epoch}")
    return task.figures(cfg, results), time.perf_counter() - t0


class BestSnapshot:
    """The best evaluated epoch by a metric (``mode`` ``min`` or ``max``); its weights in
    ``<model_dump>/snapshot_best.pth.tar`` (written atomically, replaced only when the metric improves)."""

    def __init__(self, model_dump: str | Path, metric: str, mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"main metric mode must be 'min' or 'max', got {mode!r}")
        self.path = best_snapshot_path(model_dump)
        self.metric, self.mode = metric, mode
        self.value: float | None = None
        self.epoch: int | None = None

    def resume(self, start_epoch: int) -> None:
        """Take over the best of the run being continued from its file: when it is of this metric and of an
        epoch before ``start_epoch`` (a later one belongs to epochs trained again and is replaced)."""
        if not self.path.is_file():
            return
        try:
            best = load_file(self.path).get("best")
        except CheckpointError as exc:
            log.warning("%s; the next evaluation writes a new best snapshot", exc)
            return
        if (not isinstance(best, dict) or best.get("metric") != self.metric or best.get("mode") != self.mode
                or int(best.get("epoch", start_epoch)) >= start_epoch):
            log.info("%s (%s) is not a best of %s (%s) before epoch %d: the next evaluation replaces it",
                     self.path.name, best, self.metric, self.mode, start_epoch)
            return
        self.value, self.epoch = float(best["value"]), int(best["epoch"])
        log.info("best so far: %s %.4g at epoch %d (%s)", self.metric, self.value, self.epoch, self.path.name)

    def improves(self, value: float) -> bool:
        """A finite ``value`` strictly better than the best so far (any finite value when there is none)."""
        if not math.isfinite(value):
            return False
        if self.value is None:
            return True
        return value < self.value if self.mode == "min" else value > self.value

    def offer(self, epoch: int, value: float, state: Callable[[], dict]) -> bool:
        """Keep ``state()`` (epoch, task, network, config) with ``best`` = {metric, mode, value, epoch} when
        ``value`` improves on the best; True if it did."""
        if not self.improves(value):
            return False
        save_snapshot(self.path, {**state(), "best": {"metric": self.metric, "mode": self.mode,
                                                      "value": float(value), "epoch": int(epoch)}})
        self.value, self.epoch = float(value), int(epoch)
        return True
