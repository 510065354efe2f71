"""A training run's files: its folders, log, environment record and ``metrics.jsonl`` upkeep.

``<output_dir>/log/<name>/{train.log, metrics.jsonl, config.yaml, env.json}`` and
``<output_dir>/model_dump/snapshot_{epoch}.pth.tar``.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from .config import Config
from .evaluation.report import atomic_path


def run_dirs(cfg: Config) -> tuple[Path, Path]:
    """(model_dump, log_dir) of a config."""
    out = Path(cfg.output_dir)
    return out / "model_dump", out / "log" / cfg.name


class _CurrentStderr(logging.StreamHandler):
    """A console handler that writes to ``sys.stderr`` as it is at each message, not as it was at setup (a stream
    replaced and closed since — a finished run's redirect, a test's capture — is never written to)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it; the property ignores it
        pass


def setup_logging(log_file: Path | None, is_main: bool) -> None:
    """Console + file logging on rank 0; warnings only elsewhere."""
    logger = logging.getLogger("posenet3d")
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%m-%d %H:%M:%S")
    console = _CurrentStderr()
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


def remove_stale_temporaries(model_dump: Path) -> list[Path]:
    """Delete ``.snapshot_N.pth.tar.*.tmp`` files a killed run left behind (a snapshot write cut short)."""
    stale = sorted(model_dump.glob(".snapshot_*.pth.tar.*.tmp")) if model_dump.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def drop_metrics_from(metrics_file: Path, epoch: int) -> int:
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


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def read_metrics(metrics_file: Path) -> tuple[list[dict], list[str]]:
    """The records of a run's ``metrics.jsonl`` (one per epoch, plus one per evaluation: those hold ``eval``) in
    file order, and a note for each line that is not a record (ignored): a last line cut short by a killed run,
    or a damaged line. Raises ``FileNotFoundError`` when the file does not exist."""
    lines = Path(metrics_file).read_text().splitlines()
    records, notes = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("epoch"), int):
                raise ValueError("no integer 'epoch'")
        except ValueError as exc:
            why = "is cut short (a run killed while writing it?)" if i == len(lines) else f"is not a record ({exc})"
            notes.append(f"{metrics_file}: line {i} {why}; ignored")
            continue
        records.append(rec)
    return records, notes
