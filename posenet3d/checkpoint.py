"""Snapshots: writing them atomically, finding the latest, and loading weights with a strict, readable check.

A snapshot is ``<model_dump>/snapshot_{epoch}.pth.tar`` holding ``epoch`` (0-based), ``network`` (state_dict),
``optimizer`` and what resuming needs (``scaler``, ``config``, ``task``). With evaluation during training,
``<model_dump>/snapshot_best.pth.tar`` holds the best evaluated epoch's ``network`` (no optimizer: it is for testing,
not resuming) and ``best`` = ``{metric, mode, value, epoch}``; :func:`latest_snapshot` never picks it. Only tensors and
plain containers are stored, so every file loads with ``torch.load(..., weights_only=True)``.

Weight loading accepts the published 3DMPPE PoseNet/RootNet snapshots as they are (``network`` key, ``module.``
prefix from DataParallel), bare state_dicts, and ``state_dict`` files (CenterNet); ``module.`` and ``_orig_mod.``
(torch.compile) prefixes are stripped.
"""
from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .fileio import atomic_path

SNAPSHOT_RE = re.compile(r"^snapshot_(\d+)\.pth\.tar$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model; the message names the file and mismatch."""


def snapshot_path(model_dump: str | Path, epoch: int) -> Path:
    return Path(model_dump) / f"snapshot_{epoch}.pth.tar"


def best_snapshot_path(model_dump: str | Path) -> Path:
    """``<model_dump>/snapshot_best.pth.tar``: the best evaluated epoch (see :mod:`posenet3d.train_eval`)."""
    return Path(model_dump) / "snapshot_best.pth.tar"


def list_snapshots(model_dump: str | Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every ``snapshot_N.pth.tar`` in ``model_dump``, sorted by epoch."""
    d = Path(model_dump)
    if not d.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in d.iterdir() if (m := SNAPSHOT_RE.match(p.name))]
    return sorted(out)


def latest_snapshot(model_dump: str | Path) -> Path | None:
    snaps = list_snapshots(model_dump)
    return snaps[-1][1] if snaps else None


def save_snapshot(path: str | Path, state: Mapping) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, fsync, rename): a crash mid-write
    never leaves a corrupt snapshot under the final name, and an existing file stays intact until the new one is
    complete."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_file(path: str | Path) -> dict:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch's own advice in warnings is not ours to pass on
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — torch raises many types; each becomes one readable line
        raise CheckpointError(f"checkpoint {path} {_why_unreadable(path, exc)}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def _why_unreadable(path: Path, exc: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in words (never advising to unpickle anything)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
    if size == 0:
        return "is empty (0 bytes)"
    found = re.search(r"GLOBAL ([\w.]+)", str(exc)) if isinstance(exc, pickle.UnpicklingError) else None
    if found:
        return (f"holds Python objects other than tensors and plain containers (such as {found.group(1)}), which "
                "posenet3d never unpickles; where it was made, save the weights alone: "
                "torch.save(model.state_dict(), path)")
    if head.startswith(b"PK"):
        return f"is a truncated or corrupt zip archive ({size} bytes): copy or download it again"
    return "is not a PyTorch checkpoint (neither a torch zip archive nor a torch pickle)"


def extract_state_dict(obj: Mapping, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The network state_dict inside a checkpoint dict, with ``module.``/``_orig_mod.`` prefixes stripped."""
    for key in ("network", "state_dict", "model"):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    state = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{source}: entry {k!r} is not a tensor; is this a model checkpoint?")
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix):]
        state[k] = v
    return state


def compare_state_dicts(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor],
                        ignore_num_batches_tracked: bool = True) -> list[str]:
    """Human-readable differences (missing keys, unexpected keys, shape mismatches); empty when they fit."""
    def keep(k: str) -> bool:
        return not (ignore_num_batches_tracked and k.endswith("num_batches_tracked"))
    exp = {k: tuple(v.shape) for k, v in expected.items() if keep(k)}
    got = {k: tuple(v.shape) for k, v in given.items() if keep(k)}
    lines = []
    missing = [k for k in exp if k not in got]
    unexpected = [k for k in got if k not in exp]
    shapes = [k for k in exp if k in got and exp[k] != got[k]]
    for title, keys, fmt in (
        ("missing from the checkpoint", missing, lambda k: f"{k} {list(exp[k])}"),
        ("not in the model", unexpected, lambda k: f"{k} {list(got[k])}"),
        ("shape mismatch (model vs checkpoint)", shapes, lambda k: f"{k}: {list(exp[k])} vs {list(got[k])}"),
    ):
        if keys:
            shown = ", ".join(fmt(k) for k in keys[:6]) + (f", … ({len(keys) - 6} more)" if len(keys) > 6 else "")
            lines.append(f"{len(keys)} {title}: {shown}")
    return lines


def _hint(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    hints = []
    final = state.get("head.final_layer.bias")
    if final is not None and hasattr(model, "joint_num") and hasattr(model, "depth_dim"):
        hints.append(f"the checkpoint's PoseNet head has {final.shape[0]} channels = joint_num × depth_dim "
                     f"(model: {model.joint_num} × {model.depth_dim} = {model.joint_num * model.depth_dim})")
    if any(k.startswith("layer3.") or ".layer3." in k for k in state):
        n = len({k.split("layer3.")[1].split(".")[0] for k in state if "layer3." in k})
        hints.append(f"the checkpoint's backbone has {n} blocks in layer3 "
                     "(ResNet-18: 2, 34/50: 6, 101: 23, 152: 36)")
    return ("; " + "; ".join(hints)) if hints else ""


def load_weights(model: nn.Module, source: str | Path | Mapping, strict: bool = True, name: str | None = None
                 ) -> dict:
    """Load network weights into ``model`` from a file or a checkpoint dict.

    Strict by default: every key and shape must match (``num_batches_tracked`` may be absent); otherwise a
    :class:`CheckpointError` lists the mismatches and names the file. Returns the full checkpoint dict.
    """
    name = name or (str(source) if not isinstance(source, Mapping) else "<checkpoint dict>")
    obj = load_file(source) if not isinstance(source, Mapping) else dict(source)
    state = extract_state_dict(obj, name)
    target = model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
    expected = target.state_dict()
    problems = compare_state_dicts(expected, state)
    if problems and strict:
        raise CheckpointError(f"checkpoint {name} does not fit {type(target).__name__}: "
                              + "; ".join(problems) + _hint(target, state))
    for k, v in expected.items():  # older checkpoints lack num_batches_tracked
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = v.clone()
    if not strict:
        state = {k: v for k, v in state.items() if k in expected and expected[k].shape == v.shape}
    target.load_state_dict(state, strict=strict)
    return obj
