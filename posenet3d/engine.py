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

Running sums of the losses stay on the device; the loop reads them (one GPU→CPU copy) every
``train.log_interval`` iterations and at the end of the epoch.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
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
from .fileio import atomic_path
from .stopping import StopRequest, TrainingInterrupted
from .tasks import get_task

log = logging.getLogger("posenet3d")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, nothing to resume, …); the message says why and what is kept."""


def run_dirs(cfg: Config) -> tuple[Path, Path]:
    """(model_dump, log_dir) of a config."""
    out = Path(cfg.output_dir)
    return out / "model_dump", out / "log" / cfg.name


def setup_logging(log_file: Path | None, is_main: bool) -> None:
    """Console + file logging on rank 0; warnings only elsewhere."""
    logger = logging.getLogger("posenet3d")
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if is_main and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        logger.addHandler(fh)


def environment_info() -> dict:
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        git = ""
    return {"command": " ".join(sys.argv), "python": sys.version.split()[0], "torch": torch.__version__,
            "cuda": torch.version.cuda, "cuda_devices": torch.cuda.device_count(), "host": platform.node(),
            "platform": platform.platform(), "git": git, "cpu_threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S")}


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


def remove_stale_temporaries(model_dump: Path) -> list[Path]:
    """Delete ``.snapshot_N.pth.tar.*.tmp`` files a killed run left behind (a snapshot write cut short)."""
    stale = sorted(model_dump.glob(".snapshot_*.pth.tar.*.tmp")) if model_dump.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _drop_metrics_from(metrics_file: Path, epoch: int) -> int:
    """Remove the lines of epochs ≥ ``epoch`` from ``metrics.jsonl`` (they are trained again); number removed."""
    if not metrics_file.is_file():
        return 0
    lines = metrics_file.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            if int(json.loads(line)["epoch"]) >= epoch:
                continue
        except (ValueError, KeyError, TypeError):
            pass  # a line cut by a kill, or not ours: keep what we cannot read
        keep.append(line)
    if len(keep) != len(lines):
        with atomic_path(metrics_file) as tmp:
            tmp.write_text("".join(x + "\n" for x in keep))
    return len(lines) - len(keep)


def train(cfg: Config, gpus: list[int] | None = None, resume: bool = False, cpu_processes: int = 1) -> None:
    """Train the network ``cfg.model.task`` names. ``gpus``: CUDA device ids (one process each); empty → CPU.
    Under torchrun the process joins torchrun's group instead. Raises :class:`TrainingError` (cannot go on) or
    :class:`~posenet3d.stopping.TrainingInterrupted` (stopped on a signal at a safe point)."""
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


def _train_process(ctx: DistContext, cfg: Config, resume: bool) -> None:
    model_dump, log_dir = run_dirs(cfg)
    setup_logging(log_dir / "train.log", ctx.is_main)
    task = get_task(cfg.model.task)
    if ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if ctx.is_main:
        for p in remove_stale_temporaries(model_dump):
            log.info("removed %s, left by a run killed while writing a snapshot", p.name)

    seed_everything(cfg.train.seed)  # the same initial weights on every process
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
    metrics_file = log_dir / "metrics.jsonl"

    start_epoch = 0
    if resume:
        last = _resume_point(ctx, model_dump)
        ckpt = load_weights(model, last)
        if ckpt.get("task", cfg.model.task) != cfg.model.task:
            raise TrainingError(f"--continue: {last} is a {ckpt.get('task')} snapshot, the config trains "
                                f"{cfg.model.task}")
        optimizer.load_state_dict(ckpt["optimizer"])
        if not restore_scaler(scaler, ckpt.get("scaler")) and scaler.is_enabled():
            log.info("the snapshot holds no fp16 GradScaler state (trained with bf16, on the CPU or without AMP): "
                     "starting a fresh one")
        start_epoch = int(ckpt["epoch"]) + 1
        if start_epoch >= cfg.train.end_epoch:
            log.info("the run is complete: %s is epoch %d of train.end_epoch=%d. To train longer, raise it, e.g. "
                     "--continue train.end_epoch=%d", last, start_epoch - 1, cfg.train.end_epoch, start_epoch + 5)
            return
        if ctx.is_main and (n := _drop_metrics_from(metrics_file, start_epoch)):
            log.info("dropped %d metrics.jsonl line(s) of epochs from %d on (they are trained again)", n,
                     start_epoch)
        log.info("resumed from %s; starting at epoch %d", last, start_epoch)

    dataset = task.train_dataset(cfg)
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                 seed=cfg.train.seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size, sampler=sampler, drop_last=True,
                        num_workers=cfg.data.num_workers, pin_memory=ctx.device.type == "cuda",
                        persistent_workers=cfg.data.num_workers > 0, collate_fn=getattr(task, "collate", None))
    if len(loader) == 0:
        raise TrainingError(f"the training set has {len(dataset)} samples, fewer than one batch of "
                            f"{cfg.train.batch_size} per process × {ctx.world_size} processes")
    net = nn.parallel.DistributedDataParallel(
        model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) if ctx.distributed else model

    if ctx.is_main:
        log_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, log_dir / "config.yaml")
        (log_dir / "env.json").write_text(json.dumps(environment_info(), indent=1))
        log.info("task %s: %d training samples, %d iterations/epoch, %d process(es) on %s, batch %d per process, "
                 "AMP %s", cfg.model.task, len(dataset), len(loader), ctx.world_size, ctx.device.type,
                 cfg.train.batch_size, amp_dtype if amp else "off")

    iters = len(loader) if cfg.train.max_iters_per_epoch <= 0 else min(len(loader), cfg.train.max_iters_per_epoch)
    # distributed runs agree on a stop every log_interval iterations (one tiny collective); one process looks
    # at every iteration
    stop_every = max(1, cfg.train.log_interval) if ctx.distributed else 1
    image_key = getattr(task, "image_key", None)
    with StopRequest() as stop:
        for epoch in range(start_epoch, cfg.train.end_epoch):
            seed_everything(cfg.train.seed, ctx.rank, epoch)
            lr = lr_at(cfg, epoch)
            for g in optimizer.param_groups:
                g["lr"] = lr
            sampler.set_epoch(epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            net.train()
            if cfg.train.freeze_bn:
                _freeze_bn(model)
            t_epoch = t_last = time.perf_counter()
            data_time = 0.0
            names: list[str] = []
            sums: torch.Tensor | None = None  # running sums of the loss terms, on the device
            nonfinite = torch.zeros((), dtype=torch.int64, device=ctx.device)
            bad = torch.zeros((), dtype=torch.int64)  # bad/missing images, counted on the CPU where they are
            n = 0
            for it, batch in enumerate(_progress(loader, iters, ctx.is_main, f"epoch {epoch}")):
                if it >= iters:
                    break
                if (it + 1) % stop_every == 0 and any_process(stop.requested, ctx):
                    raise TrainingInterrupted(_stop_message(stop.signum or signal.SIGTERM, epoch, it, iters,
                                                            model_dump), stop.signum or signal.SIGTERM)
                data_time += time.perf_counter() - t_last
                if "bad" in batch:
                    bad += batch.pop("bad").sum()
                batch = move_batch(batch, ctx.device, image_key, cfg.train.channels_last)
                with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=amp):
                    loss, parts = task.loss(net, batch, cfg)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                values = torch.stack([loss.detach().float(), *(v.detach().float() for v in parts.values())])
                if sums is None:
                    names, sums = ["loss", *parts], torch.zeros_like(values)
                sums += values
                nonfinite += (~torch.isfinite(values[0])).long()
                n = it + 1
                t_last = time.perf_counter()
                if n % cfg.train.log_interval == 0 or n == iters:
                    _check_finite(nonfinite, epoch, n, cfg.train.log_interval, model_dump, ctx)
                if ctx.is_main and n % cfg.train.log_interval == 0:
                    el = t_last - t_epoch
                    eta = el / n * (iters - n)
                    log.info("epoch %d/%d it %d/%d lr %.2e loss %.4f data %.0f%% %.1f samples/s eta %s", epoch,
                             cfg.train.end_epoch, n, iters, lr, float(sums[0]) / n, 100 * data_time / el,
                             n * cfg.train.batch_size * ctx.world_size / el, _fmt_time(eta))
            means_t = all_reduce_sum(sums / max(n, 1), ctx) / ctx.world_size
            means = dict(zip(names, means_t.tolist()))
            bad_total = int(all_reduce_sum(bad, ctx).item())
            elapsed = time.perf_counter() - t_epoch
            if ctx.is_main:
                record = {"epoch": epoch, "lr": lr, **means, "samples_per_s": n * cfg.train.batch_size
                          * ctx.world_size / elapsed, "data_fraction": data_time / elapsed, "bad_samples": bad_total,
                          "time_s": elapsed}
                with open(metrics_file, "a") as f:  # before the snapshot: a resume starts after the snapshot
                    f.write(json.dumps(record) + "\n")
                if (epoch + 1) % cfg.train.snapshot_interval == 0 or epoch + 1 == cfg.train.end_epoch:
                    state = {"epoch": epoch, "task": cfg.model.task, "network": model.state_dict(),
                             "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                             "config": config_to_dict(cfg)}
                    save_snapshot(snapshot_path(model_dump, epoch), state)
                log.info("epoch %d done in %s: %s; %d bad/missing images skipped", epoch, _fmt_time(elapsed),
                         " ".join(f"{k} {v:.4f}" for k, v in means.items()), bad_total)
            if epoch + 1 < cfg.train.end_epoch and any_process(stop.requested, ctx):
                raise TrainingInterrupted(_stop_message(stop.signum or signal.SIGTERM, epoch, None, iters,
                                                        model_dump), stop.signum or signal.SIGTERM)


def _check_finite(nonfinite: torch.Tensor, epoch: int, n: int, interval: int, model_dump: Path,
                  ctx: DistContext) -> None:
    """Stop (every process together) on a non-finite loss seen since the last check, every ``interval``
    iterations."""
    if any_process(bool(nonfinite.item()), ctx):
        last = latest_snapshot(model_dump)
        raise TrainingError(f"non-finite loss in epoch {epoch} between iterations {max(0, n - interval)} and {n}; "
                            f"stopping. The last good snapshot is {last if last else 'none (no epoch finished)'}; "
                            "lower train.lr or check the data, then resume with --continue.")


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


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
