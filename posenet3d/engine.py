"""The training loop: one function you can read top to bottom.

``train(cfg, gpus, resume)`` builds the task's network and data from the config, wraps the network in
DistributedDataParallel when there are several processes, and runs Adam with step decay. On CUDA it uses AMP
(bf16 on GPUs with native bf16, compute capability ≥ 8.0; else fp16 with a GradScaler). Only rank 0 logs and
writes snapshots. Per run it writes ``<output_dir>/log/<name>/{train.log, metrics.jsonl, config.yaml, env.json}``
and ``<output_dir>/model_dump/snapshot_{epoch}.pth.tar``; an epoch's ``metrics.jsonl`` line is written before its
snapshot (a resume drops lines of epochs it trains again). A non-finite loss stops the run with a clear message
and leaves the last good snapshot intact; so does SIGTERM or Ctrl-C (:mod:`posenet3d.stopping`).
``resume=True`` continues from the latest snapshot (rank 0's choice, on every node): model, optimizer, scaler
and epoch; every random generator is seeded from (seed, rank, epoch) at each epoch's start, so a resumed run
repeats an uninterrupted one bit for bit.

Running sums of the losses stay on the device; the loop reads them (one GPU→CPU copy, with the gradient norm) every
``train.log_interval`` iterations and at the end of the epoch. ``train.eval_interval`` evaluates on the test set
during training and keeps the best epoch (:mod:`posenet3d.train_eval`); ``train.tensorboard`` writes scalars and the
log lines and progress bar show the epoch's and the run's ETA (:mod:`posenet3d.monitor`).
"""
from __future__ import annotations

import json
import logging
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from .checkpoint import (
    SNAPSHOT_RE,
    latest_snapshot,
    load_file,
    load_weights,
    save_snapshot,
    snapshot_path,
)
from .config import Config, config_to_dict, dump_config
from .distributed import (
    DistContext,
    all_reduce_sum,
    any_process,
    barrier,
    broadcast_int,
    launch,
)
from .monitor import Scalars, grad_norm, require_tensorboard, run_eta_s
from .runs import (
    drop_metrics_from,
    environment_info,
    format_duration,
    remove_stale_temporaries,
    run_dirs,
    setup_logging,
)
from .stopping import StopRequest, TrainingInterrupted
from .task_base import Task
from .tasks import get_task
from .train_eval import BestSnapshot, eval_due, evaluate, evaluations_from

log = logging.getLogger("posenet3d")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, nothing to resume, …); the message says why and what is kept."""


def seed_everything(seed: int, *stream: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from ``seed`` and optional stream ids (rank, epoch)."""
    value = int(np.random.SeedSequence([seed, *stream]).generate_state(1)[0]) if stream else seed
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def lr_at(cfg: Config, epoch: int) -> float:
    """Step decay: lr / factor^(number of decay epochs ≤ epoch)."""
    n = sum(epoch >= e for e in cfg.train.lr_dec_epoch)
    return cfg.train.lr / (cfg.train.lr_dec_factor ** n)


def amp_settings(device: torch.device, enabled: bool) -> tuple[bool, torch.dtype | None]:
    """(autocast on, its dtype): bf16 on GPUs with native bf16 (compute capability ≥ 8.0: A100, H100, RTX 30xx
    and later), fp16 (with a GradScaler) on older ones (V100, T4); off on the CPU. ``is_bf16_supported()`` is not
    asked: it also says yes where bf16 is only emulated."""
    if not enabled or device.type != "cuda":
        return False, None
    return True, (torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16)


def restore_scaler(scaler: torch.amp.GradScaler, state: dict | None) -> bool:
    """Load a snapshot's GradScaler state when both sides use one; True if loaded. A snapshot written without
    fp16 (bf16, CPU, AMP off) holds an empty state: the enabled scaler then starts afresh."""
    if not scaler.is_enabled() or not state:
        return False
    scaler.load_state_dict(state)
    return True


def move_batch(batch: dict, device: torch.device, image_key: str | None, channels_last: bool) -> dict:
    """Every tensor of ``batch`` on ``device`` (asynchronous copies from pinned memory); the image tensor
    ``image_key`` in channels_last when asked, converted in the same copy."""
    out = {}
    for k, v in batch.items():
        if not isinstance(v, torch.Tensor):
            out[k] = v
        elif k == image_key and channels_last and v.dim() == 4:
            out[k] = v.to(device, non_blocking=True, memory_format=torch.channels_last)
        else:
            out[k] = v.to(device, non_blocking=True)
    return out


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _progress(iterable, total: int, enabled: bool, desc: str):
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, leave=False)
    return iterable


def train(cfg: Config, gpus: list[int] | None = None, resume: bool = False, cpu_processes: int = 1) -> None:
    """Train the network ``cfg.model.task`` names. ``gpus``: CUDA device ids (one process each); empty → CPU.
    Under torchrun the process joins torchrun's group instead. Raises :class:`TrainingError` (cannot go on) or
    :class:`~posenet3d.stopping.TrainingInterrupted` (stopped on a signal at a safe point)."""
    if cfg.train.tensorboard:
        require_tensorboard()  # a missing package is one clear error before any process starts
    launch(_train_process, list(gpus or []), (cfg, resume), cpu_processes=cpu_processes)


def _resume_point(ctx: DistContext, model_dump: Path) -> Path:
    """The snapshot to resume from: rank 0's latest, the same file on every process and node."""
    last = latest_snapshot(model_dump) if ctx.is_main else None
    epoch = broadcast_int(-1 if last is None else int(SNAPSHOT_RE.match(last.name).group(1)), ctx)
    if epoch < 0:
        raise TrainingError(f"--continue: no snapshot_*.pth.tar in {model_dump} to resume from")
    path = snapshot_path(model_dump, epoch)
    if not path.is_file():
        raise TrainingError(f"--continue: rank {ctx.rank} cannot see {path}, which rank 0 resumes from; "
                            "every node needs the same output_dir (a shared file system)")
    return path


def _stop_message(stop_signal: int, epoch: int, it: int | None, iters: int, model_dump: Path) -> str:
    last = latest_snapshot(model_dump)
    where = f"in epoch {epoch} at iteration {it}/{iters} (that epoch's progress is dropped)" if it is not None \
        else f"after epoch {epoch}"
    kept = f"the last good snapshot is {last}" if last else "no snapshot was written yet"
    return f"stopped by {signal.Signals(stop_signal).name} {where}; {kept}"


@dataclass
class _Run:
    """One process's training state, built by :func:`_setup`."""

    ctx: DistContext
    cfg: Config
    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    amp: bool
    amp_dtype: torch.dtype | None
    model_dump: Path
    log_dir: Path
    net: nn.Module | None = None  # the model, wrapped in DDP when distributed
    dataset: Dataset | None = None
    sampler: DistributedSampler | None = None
    loader: DataLoader | None = None
    iters: int = 0
    scalars: Scalars | None = None  # TensorBoard (rank 0, when asked)
    best: BestSnapshot | None = None  # rank 0, with evaluation during training
    eval_s: float = 0.0  # the last evaluation's duration (for the run's ETA)

    @property
    def metrics_file(self) -> Path:
        return self.log_dir / "metrics.jsonl"


def _train_process(ctx: DistContext, cfg: Config, resume: bool) -> None:
    run = _setup(ctx, cfg)
    start_epoch = _resume(run) if resume else 0
    if start_epoch >= cfg.train.end_epoch:
        return
    _attach_data(run)
    _attach_monitors(run, start_epoch)
    try:
        with StopRequest() as stop:
            for epoch in range(start_epoch, cfg.train.end_epoch):
                _finish_epoch(run, epoch, _train_epoch(run, epoch, stop))
                if eval_due(cfg, epoch) and not _evaluate(run, epoch):
                    return  # rank 0's evaluation failed: it raises the error, the others end here
                if epoch + 1 < cfg.train.end_epoch and any_process(stop.requested, ctx):
                    raise TrainingInterrupted(_stop_message(stop.signum or signal.SIGTERM, epoch, None, run.iters,
                                                            run.model_dump), stop.signum or signal.SIGTERM)
    finally:
        run.scalars.close()


def _setup(ctx: DistContext, cfg: Config) -> _Run:
    """Logging, the network (the same initial weights on every process), optimizer and AMP."""
    model_dump, log_dir = run_dirs(cfg)
    setup_logging(log_dir / "train.log", ctx.is_main)
    task = get_task(cfg.model.task)
    if ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if ctx.is_main:
        for p in remove_stale_temporaries(model_dump):
            log.info("removed %s, left by a run killed while writing a snapshot", p.name)
    seed_everything(cfg.train.seed)
    if not ctx.is_main:
        barrier(ctx)  # rank 0 fetches ImageNet weights (if any) into the cache first
    model = task.build_model(cfg, for_training=True).to(ctx.device)
    if ctx.is_main:
        barrier(ctx)
    if cfg.train.sync_bn and ctx.distributed and ctx.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    amp, amp_dtype = amp_settings(ctx.device, cfg.train.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    return _Run(ctx, cfg, task, model, optimizer, scaler, amp, amp_dtype, model_dump, log_dir)


def _resume(run: _Run) -> int:
    """Load the latest snapshot into ``run``; the epoch to start at (``end_epoch`` when the run is complete)."""
    cfg = run.cfg
    last = _resume_point(run.ctx, run.model_dump)
    ckpt = load_weights(run.model, last)
    if ckpt.get("task", cfg.model.task) != cfg.model.task:
        raise TrainingError(f"--continue: {last} is a {ckpt.get('task')} snapshot, the config trains "
                            f"{cfg.model.task}")
    run.optimizer.load_state_dict(ckpt["optimizer"])
    if not restore_scaler(run.scaler, ckpt.get("scaler")) and run.scaler.is_enabled():
        log.info("the snapshot holds no fp16 GradScaler state (trained with bf16, on the CPU or without AMP): "
                 "starting a fresh one")
    start_epoch = int(ckpt["epoch"]) + 1
    if start_epoch >= cfg.train.end_epoch:
        log.info("the run is complete: %s is epoch %d of train.end_epoch=%d. To train longer, raise it, e.g. "
                 "--continue train.end_epoch=%d", last, start_epoch - 1, cfg.train.end_epoch, start_epoch + 5)
        return cfg.train.end_epoch
    if run.ctx.is_main and (n := drop_metrics_from(run.metrics_file, start_epoch)):
        log.info("dropped %d metrics.jsonl line(s) of epochs from %d on (they are trained again)", n, start_epoch)
    log.info("resumed from %s; starting at epoch %d", last, start_epoch)
    return start_epoch


def _attach_data(run: _Run) -> None:
    """The training set, its sampler and loader, DDP, and the run's config/environment files."""
    ctx, cfg = run.ctx, run.cfg
    run.dataset = run.task.train_dataset(cfg)
    run.sampler = DistributedSampler(run.dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=cfg.train.seed, drop_last=True)
    run.loader = DataLoader(run.dataset, batch_size=cfg.train.batch_size, sampler=run.sampler, drop_last=True,
                            num_workers=cfg.data.num_workers, pin_memory=ctx.device.type == "cuda",
                            persistent_workers=cfg.data.num_workers > 0)
    if len(run.loader) == 0:
        raise TrainingError(f"the training set has {len(run.dataset)} samples, fewer than one batch of "
                            f"{cfg.train.batch_size} per process × {ctx.world_size} processes")
    run.net = nn.parallel.DistributedDataParallel(
        run.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) \
        if ctx.distributed else run.model
    n = len(run.loader)
    run.iters = n if cfg.train.max_iters_per_epoch <= 0 else min(n, cfg.train.max_iters_per_epoch)
    if ctx.is_main:
        run.log_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run.log_dir / "config.yaml")
        (run.log_dir / "env.json").write_text(json.dumps(environment_info(), indent=1))
        log.info("task %s: %d training samples, %d iterations/epoch, %d process(es) on %s, batch %d per process, "
                 "AMP %s", cfg.model.task, len(run.dataset), n, ctx.world_size, ctx.device.type,
                 cfg.train.batch_size, run.amp_dtype if run.amp else "off")


def _attach_monitors(run: _Run, start_epoch: int) -> None:
    """TensorBoard scalars and the best-snapshot keeper (rank 0; the best of a continued run is read back)."""
    cfg, main = run.cfg, run.ctx.is_main
    tb_dir = run.log_dir / "tensorboard" if main and cfg.train.tensorboard else None
    run.scalars = Scalars(tb_dir, purge_step=start_epoch * run.iters if start_epoch else None)
    if main and cfg.train.eval_interval > 0:
        run.best = BestSnapshot(run.model_dump, *run.task.main_metric)
        if start_epoch > 0:
            run.best.resume(start_epoch)


@dataclass
class _EpochStats:
    lr: float
    names: list[str]
    sums: torch.Tensor  # loss terms summed over the epoch's iterations, on the device
    n: int  # iterations run
    bad: torch.Tensor  # bad/missing images skipped (CPU, int64)
    data_time: float
    elapsed: float


def _train_epoch(run: _Run, epoch: int, stop: StopRequest) -> _EpochStats:
    """One epoch of optimisation; stops (raising) at a safe point when a stop was requested."""
    ctx, cfg = run.ctx, run.cfg
    seed_everything(cfg.train.seed, ctx.rank, epoch)
    lr = lr_at(cfg, epoch)
    for g in run.optimizer.param_groups:
        g["lr"] = lr
    run.sampler.set_epoch(epoch)
    if hasattr(run.dataset, "set_epoch"):
        run.dataset.set_epoch(epoch)
    run.net.train()
    if cfg.train.freeze_bn:
        _freeze_bn(run.model)
    # distributed runs agree on a stop every log_interval iterations (one tiny collective); one process looks at
    # every iteration
    stop_every = max(1, cfg.train.log_interval) if ctx.distributed else 1
    t_epoch = t_last = time.perf_counter()
    data_time, names, sums, n = 0.0, [], None, 0
    logged, logged_n = None, 0  # the sums at the last log line (for the interval's means in TensorBoard)
    evals_left = evaluations_from(cfg, epoch)
    bad = torch.zeros((), dtype=torch.int64)
    nonfinite = torch.zeros((), dtype=torch.int64, device=ctx.device)
    bar = _progress(run.loader, run.iters, ctx.is_main, f"epoch {epoch}")
    for it, batch in enumerate(bar):
        if it > 0 and hasattr(bar, "set_postfix_str"):  # tqdm shows the epoch's ETA itself
            el = time.perf_counter() - t_epoch
            bar.set_postfix_str("run eta " + format_duration(
                run_eta_s(cfg, epoch, it, run.iters, el / it, evals_left, run.eval_s)), refresh=False)
        if it >= run.iters:
            break
        if (it + 1) % stop_every == 0 and any_process(stop.requested, ctx):
            signum = stop.signum or signal.SIGTERM
            raise TrainingInterrupted(_stop_message(signum, epoch, it, run.iters, run.model_dump), signum)
        data_time += time.perf_counter() - t_last
        if "bad" in batch:
            bad += batch.pop("bad").sum()
        values = _step(run, move_batch(batch, ctx.device, run.task.image_key, cfg.train.channels_last))
        if sums is None:
            names, sums = list(values), torch.zeros(len(values), device=ctx.device)
        sums += torch.stack(list(values.values()))
        nonfinite += (~torch.isfinite(values["loss"])).long()
        n = it + 1
        t_last = time.perf_counter()
        if n % cfg.train.log_interval == 0 or n == run.iters:
            _check_finite(nonfinite, epoch, n, cfg.train.log_interval, run.model_dump, ctx)
        if ctx.is_main and n % cfg.train.log_interval == 0:
            el = t_last - t_epoch
            interval = sums - logged if logged is not None else sums
            # one read of the device: the epoch's mean loss, the interval's mean terms and the gradient norm
            read = torch.cat([sums[:1] / n, interval / (n - logged_n), grad_norm(run.model)[None]]).tolist()
            logged, logged_n = sums.clone(), n
            rate, data = n * cfg.train.batch_size * ctx.world_size / el, data_time / el
            log.info("epoch %d/%d it %d/%d lr %.2e loss %.4f grad %.3g data %.0f%% %.1f samples/s eta %s (run %s)",
                     epoch, cfg.train.end_epoch, n, run.iters, lr, read[0], read[-1], 100 * data, rate,
                     format_duration(el / n * (run.iters - n)),
                     format_duration(run_eta_s(cfg, epoch, n, run.iters, el / n, evals_left, run.eval_s)))
            run.scalars.add("train", {**dict(zip(names, read[1:-1])), "lr": lr, "grad_norm": read[-1],
                                      "samples_per_s": rate, "data_fraction": data}, epoch * run.iters + n)
    return _EpochStats(lr, names, sums, n, bad, data_time, time.perf_counter() - t_epoch)


def _step(run: _Run, batch: dict) -> dict[str, torch.Tensor]:
    """One optimisation step; the loss terms (detached, fp32, on the device; ``loss`` first)."""
    with torch.autocast(run.ctx.device.type, dtype=run.amp_dtype, enabled=run.amp):
        loss, parts = run.task.loss(run.net, batch, run.cfg)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return {"loss": loss.detach().float(), **{k: v.detach().float() for k, v in parts.items()}}


def _finish_epoch(run: _Run, epoch: int, st: _EpochStats) -> None:
    """Average the epoch over processes; on rank 0 write its metrics line, then its snapshot."""
    ctx, cfg = run.ctx, run.cfg
    means = dict(zip(st.names, (all_reduce_sum(st.sums / max(st.n, 1), ctx) / ctx.world_size).tolist()))
    bad_total = int(all_reduce_sum(st.bad, ctx).item())
    if not ctx.is_main:
        return
    record = {"epoch": epoch, "lr": st.lr, **means,
              "samples_per_s": st.n * cfg.train.batch_size * ctx.world_size / st.elapsed,
              "data_fraction": st.data_time / st.elapsed, "bad_samples": bad_total, "time_s": st.elapsed}
    _append_metrics(run, record)  # before the snapshot: a resume starts after the snapshot
    if (epoch + 1) % cfg.train.snapshot_interval == 0 or epoch + 1 == cfg.train.end_epoch:
        save_snapshot(snapshot_path(run.model_dump, epoch), {
            **_weights_state(run, epoch), "optimizer": run.optimizer.state_dict(),
            "scaler": run.scaler.state_dict()})
    eta = run_eta_s(cfg, epoch, run.iters, run.iters, st.elapsed / max(st.n, 1), evaluations_from(cfg, epoch),
                    run.eval_s)
    log.info("epoch %d done in %s: %s; %d bad/missing images skipped; run eta %s", epoch,
             format_duration(st.elapsed), " ".join(f"{k} {v:.4f}" for k, v in means.items()), bad_total,
             format_duration(eta))
    run.scalars.add("epoch", {**means, "samples_per_s": record["samples_per_s"],
                              "data_fraction": record["data_fraction"], "time_s": st.elapsed}, (epoch + 1) * run.iters)
    run.scalars.flush()


def _weights_state(run: _Run, epoch: int) -> dict:
    """What every snapshot holds: epoch, task, network weights and the config."""
    return {"epoch": epoch, "task": run.cfg.model.task, "network": run.model.state_dict(),
            "config": config_to_dict(run.cfg)}


def _append_metrics(run: _Run, record: dict) -> None:
    with open(run.metrics_file, "a") as f:
        f.write(json.dumps(record) + "\n")


def _evaluate(run: _Run, epoch: int) -> bool:
    """Rank 0 tests the model on the test set (training state untouched) while the others wait; its figures go
    to ``metrics.jsonl``, the log and TensorBoard, and its weights to ``snapshot_best.pth.tar`` when the main
    metric improves. False on the other ranks when rank 0's evaluation failed (rank 0 raises)."""
    ctx, cfg = run.ctx, run.cfg
    failure: Exception | None = None
    if ctx.is_main:
        try:
            figures, seconds = evaluate(run.task, cfg, run.model, ctx.device, epoch)
        except Exception as exc:  # noqa: BLE001 — any failure must reach the other processes, not hang them
            failure = exc
    if any_process(failure is not None, ctx):  # the other processes wait here for rank 0's evaluation
        if failure is None:
            return False
        last = latest_snapshot(run.model_dump)
        raise TrainingError(f"evaluation after epoch {epoch} failed ({type(failure).__name__}: {failure}); the last "
                            f"snapshot is {last}. Fix the test set or set train.eval_interval=0, then resume with "
                            "--continue") from failure
    if not ctx.is_main:
        return True
    run.eval_s = seconds
    metric, mode = run.task.main_metric
    record: dict = {"epoch": epoch, "eval": figures, "eval_s": seconds, "main_metric": metric}
    best = ""
    if metric in figures:
        record["best"] = run.best.offer(epoch, figures[metric], lambda: _weights_state(run, epoch))
        best = (f"; best {metric} {run.best.value:.4g} at epoch {run.best.epoch}"
                + (f" (new: {run.best.path.name})" if record["best"] else ""))
    else:
        best = f"; no best snapshot: the figures hold no {metric} (the task's main metric)"
    _append_metrics(run, record)
    log.info("epoch %d evaluation on %s in %s: %s%s", epoch, cfg.data.testset if cfg.model.task != "centernet"
             else cfg.data.det_test_ann, format_duration(seconds),
             " ".join(f"{k} {v:.4g}" for k, v in figures.items()), best)
    run.scalars.add("eval", {**figures, "seconds": seconds}, (epoch + 1) * run.iters)
    run.scalars.flush()
    return True


def _check_finite(nonfinite: torch.Tensor, epoch: int, n: int, interval: int, model_dump: Path,
                  ctx: DistContext) -> None:
    """Stop (every process together) on a non-finite loss seen since the last check, every ``interval``
    iterations."""
    if any_process(bool(nonfinite.item()), ctx):
        last = latest_snapshot(model_dump)
        raise TrainingError(f"non-finite loss in epoch {epoch} between iterations {max(0, n - interval)} and {n}; "
                            f"stopping. The last good snapshot is {last if last else 'none (no epoch finished)'}; "
                            "lower train.lr or check the data, then resume with --continue.")


def load_for_test(cfg: Config, weights: str | Path, device: torch.device) -> nn.Module:
    """Build the config's network and load ``weights`` (ours or a published file) for evaluation."""
    task = get_task(cfg.model.task)
    model = task.build_model(cfg, for_training=False)
    obj = load_file(weights)
    if obj.get("task", cfg.model.task) != cfg.model.task:
        from .checkpoint import CheckpointError
        raise CheckpointError(f"checkpoint {weights} is a {obj['task']} snapshot; the config "
                              f"({cfg.name}) tests {cfg.model.task}")
    load_weights(model, obj, name=str(weights))
    return model.to(device).eval()
