"""The training loop: one function you can read top to bottom.

``train(cfg, gpus, resume)`` builds the task's network and data from the config, wraps the network in
DistributedDataParallel when there are several processes, and runs Adam with step decay. On CUDA it uses AMP
(bf16 where supported, else fp16 with a GradScaler). Only rank 0 logs and writes snapshots. Per run it writes
``<output_dir>/log/<name>/{train.log, metrics.jsonl, config.yaml, env.json}`` and
``<output_dir>/model_dump/snapshot_{epoch}.pth.tar``. A non-finite loss stops the run with a clear message and
leaves the last good snapshot intact. ``resume=True`` continues from the latest snapshot: model, optimizer,
scheduler, scaler, epoch and RNG states.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from .checkpoint import latest_snapshot, load_file, load_weights, save_snapshot, snapshot_path
from .config import Config, config_to_dict, dump_config
from .distributed import DistContext, all_reduce_mean, launch
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
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        git = ""
    return {"command": " ".join(sys.argv), "python": sys.version.split()[0], "torch": torch.__version__,
            "cuda": torch.version.cuda, "cuda_devices": torch.cuda.device_count(), "host": platform.node(),
            "platform": platform.platform(), "git": git, "cpu_threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    st = np.random.get_state()
    return {"python": random.getstate(), "numpy": [st[0], torch.from_numpy(st[1].copy()), int(st[2]), int(st[3]),
                                                    float(st[4])],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    if not state:
        return
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy(), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def lr_at(cfg: Config, epoch: int) -> float:
    """Step decay: lr / factor^(number of decay epochs ≤ epoch)."""
    n = sum(epoch >= e for e in cfg.train.lr_dec_epoch)
    return cfg.train.lr / (cfg.train.lr_dec_factor ** n)


def amp_settings(device: torch.device, enabled: bool) -> tuple[bool, torch.dtype | None]:
    if not enabled or device.type != "cuda":
        return False, None
    return True, (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


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
    Under torchrun the process joins torchrun's group instead."""
    launch(_train_process, list(gpus or []), (cfg, resume), cpu_processes=cpu_processes)


def _train_process(ctx: DistContext, cfg: Config, resume: bool) -> None:
    model_dump, log_dir = run_dirs(cfg)
    setup_logging(log_dir / "train.log", ctx.is_main)
    task = get_task(cfg.model.task)
    seed_everything(cfg.train.seed + ctx.rank)
    if ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    model = task.build_model(cfg, for_training=True).to(ctx.device)
    if cfg.train.sync_bn and ctx.distributed and ctx.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    amp, amp_dtype = amp_settings(ctx.device, cfg.train.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

    start_epoch = 0
    if resume:
        last = latest_snapshot(model_dump)
        if last is None:
            raise TrainingError(f"--continue: no snapshot_*.pth.tar in {model_dump} to resume from")
        ckpt = load_weights(model, last)
        if ckpt.get("task", cfg.model.task) != cfg.model.task:
            raise TrainingError(f"--continue: {last} is a {ckpt.get('task')} snapshot, the config trains "
                                f"{cfg.model.task}")
        optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt.get("rng", {}) if ctx.rank == 0 else {})
        start_epoch = int(ckpt["epoch"]) + 1
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
    metrics_file = log_dir / "metrics.jsonl"

    iters = len(loader) if cfg.train.max_iters_per_epoch <= 0 else min(len(loader), cfg.train.max_iters_per_epoch)
    for epoch in range(start_epoch, cfg.train.end_epoch):
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
        sums: dict[str, float] = {}
        bad = 0
        for it, batch in enumerate(_progress(loader, iters, ctx.is_main, f"epoch {epoch}")):
            if it >= iters:
                break
            data_time += time.perf_counter() - t_last
            bad += int(batch.pop("bad").sum()) if "bad" in batch else 0
            with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=amp):
                loss, parts = task.loss(net, batch, ctx.device, cfg)
            if not torch.isfinite(loss):
                last = latest_snapshot(model_dump)
                raise TrainingError(f"non-finite loss ({loss.item()}) at epoch {epoch} iteration {it}; stopping. "
                                    f"The last good snapshot is {last if last else 'none (no epoch finished)'}; "
                                    f"lower train.lr or check the data, then resume with --continue.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            parts = {"loss": loss.detach(), **{k: v.detach() for k, v in parts.items()}}
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            t_last = time.perf_counter()
            if ctx.is_main and (it + 1) % cfg.train.log_interval == 0:
                el = t_last - t_epoch
                eta = el / (it + 1) * (iters - it - 1)
                log.info("epoch %d/%d it %d/%d lr %.2e loss %.4f data %.0f%% %.1f samples/s eta %s", epoch,
                         cfg.train.end_epoch, it + 1, iters, lr, sums["loss"] / (it + 1), 100 * data_time / el,
                         (it + 1) * cfg.train.batch_size * ctx.world_size / el, _fmt_time(eta))
        n = min(iters, it + 1)
        means = {k: float(all_reduce_mean(torch.tensor(v / n), ctx)) for k, v in sums.items()}
        bad_total = int(all_reduce_mean(torch.tensor(float(bad)), ctx) * ctx.world_size)
        elapsed = time.perf_counter() - t_epoch
        if ctx.is_main:
            state = {"epoch": epoch, "task": cfg.model.task, "network": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(),
                     "config": config_to_dict(cfg)}
            if (epoch + 1) % cfg.train.snapshot_interval == 0 or epoch + 1 == cfg.train.end_epoch:
                save_snapshot(snapshot_path(model_dump, epoch), state)
            record = {"epoch": epoch, "lr": lr, **means, "samples_per_s": n * cfg.train.batch_size * ctx.world_size
                      / elapsed, "data_fraction": data_time / elapsed, "bad_samples": bad_total,
                      "time_s": elapsed}
            with open(metrics_file, "a") as f:
                f.write(json.dumps(record) + "\n")
            log.info("epoch %d done in %s: %s; %d bad/missing images skipped", epoch, _fmt_time(elapsed),
                     " ".join(f"{k} {v:.4f}" for k, v in means.items()), bad_total)


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
