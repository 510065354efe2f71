"""Loading the published CenterNet checkpoints (and saving ours in the same format).

A published file is ``{'epoch': int, 'state_dict': {...}}`` (sometimes with ``optimizer``), keys possibly
prefixed ``module.`` (DataParallel). :func:`load_centernet` builds the network the file was trained as (the class
count and head width are read from the file), checks every key and shape strictly, loads it, and by default keeps
only the person channel (class 0 of COCO's 80) so the result is a 1-class person detector. A file of another
task, arch or class count raises :class:`CheckpointError` naming the file and the mismatching keys and shapes,
never silently re-initialising a head as the reference loader does. Files are read with
``torch.load(weights_only=True)`` only.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from posenet3d.checkpoint import (
    CheckpointError,
    compare_state_dicts,
    extract_state_dict,
    load_file,
    save_snapshot,
)
from posenet3d.detection.model import ARCHS, CenterNet, ctdet_heads, multi_pose_heads

log = logging.getLogger(__name__)

TASKS = ("ctdet", "multi_pose")
PERSON_CLASS = 0  # COCO class index of "person" among the 80 detection classes (category id 1)


def describe_state(state: dict[str, torch.Tensor]) -> str:
    """A guess at what a CenterNet-like state_dict is (arch family, depth, task, classes), for error messages."""
    parts = []
    if any(k.startswith("base.base_layer") or k.startswith("dla_up.") for k in state):
        parts.append("a DLA-34 model (dla_34; not supported here)")
    elif any(k.startswith("pre.") or k.startswith("kps.") for k in state):
        parts.append("an Hourglass model (not supported here)")
    elif "conv1.weight" in state:
        blocks = len({k.split(".")[1] for k in state if k.startswith("layer3.")})
        bottleneck = any(".conv3." in k for k in state)
        depth = {(2, False): 18, (23, True): 101, (6, False): 34, (6, True): 50}.get((blocks, bottleneck), "?")
        family = "resdcn" if any("conv_offset_mask" in k for k in state) else "res"
        parts.append(f"arch {family}_{depth}")
    else:
        parts.append("no ResNet trunk (no 'conv1.weight')")
    if "hps.2.weight" in state or "hps.weight" in state:
        parts.append("task multi_pose")
    elif "hm.2.weight" in state or "hm.weight" in state:
        parts.append("task ctdet")
    hm = state.get("hm.2.weight", state.get("hm.weight"))
    if hm is not None:
        parts.append(f"{hm.shape[0]} classes")
    return ", ".join(parts)


def read_centernet_state(path: str | Path) -> tuple[dict[str, torch.Tensor], int | None]:
    """``(state_dict without 'module.' prefixes, epoch or None)`` of a checkpoint file."""
    obj = load_file(path)
    state = extract_state_dict(obj, str(path))
    epoch = obj.get("epoch")
    return state, int(epoch) if isinstance(epoch, (int, torch.Tensor)) else None


def load_centernet(path: str | Path, arch: str, task: str = "ctdet", person_only: bool = True,
                   num_classes: int | None = None) -> CenterNet:
    """A :class:`CenterNet` holding the weights of a published (or our own) checkpoint.

    Args:
        path: the ``.pth`` file.
        arch: ``res_18``, ``res_101``, ``resdcn_18`` or ``resdcn_101`` — what the file must be.
        task: ``ctdet`` or ``multi_pose``.
        person_only: for ctdet, reduce the ``hm`` head to class 0 (COCO person) → a 1-class detector whose
            ``hm`` weights equal the file's row 0.
        num_classes: the class count the file must have (None: any; read from ``hm``).
    Raises :class:`CheckpointError` (naming the file, what it looks like, and the mismatching keys/shapes).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown CenterNet arch {arch!r}; choose one of {sorted(ARCHS)}")
    if task not in TASKS:
        raise ValueError(f"unknown CenterNet task {task!r}; choose one of {TASKS}")
    state, epoch = read_centernet_state(path)
    what = describe_state(state)
    hm_final = state.get("hm.2.weight", state.get("hm.weight"))
    if hm_final is None or hm_final.dim() != 4:
        raise CheckpointError(f"checkpoint {path} is not a CenterNet checkpoint: it has no 'hm.2.weight' "
                              f"(centre-heatmap head); it looks like {what}")
    n_cls = int(hm_final.shape[0])
    if num_classes is not None and n_cls != num_classes:
        raise CheckpointError(f"checkpoint {path} has {n_cls} classes in hm.2.weight {list(hm_final.shape)}, "
                              f"expected {num_classes}")
    head_conv = int(state["hm.0.weight"].shape[0]) if "hm.0.weight" in state else 0
    heads = ctdet_heads(n_cls) if task == "ctdet" else multi_pose_heads()
    if task == "multi_pose" and n_cls != 1:
        raise CheckpointError(f"checkpoint {path} has {n_cls} hm classes; a multi_pose checkpoint has 1 "
                              f"(it looks like {what})")
    model = CenterNet(arch, heads, head_conv=head_conv)
    problems = compare_state_dicts(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"checkpoint {path} is not a CenterNet {task} {arch} checkpoint (it looks like "
                              f"{what}): " + "; ".join(problems))
    for k, v in model.state_dict().items():  # files without num_batches_tracked
        state.setdefault(k, v.clone())
    model.load_state_dict(state, strict=True)
    if person_only and task == "ctdet" and n_cls > 1:
        model.select_classes([PERSON_CLASS])
    log.info("loaded CenterNet %s %s from %s (epoch %s, %d classes in file%s)", task, arch, path, epoch, n_cls,
             ", person kept" if person_only and n_cls > 1 else "")
    return model


def save_centernet(path: str | Path, model: CenterNet, epoch: int) -> Path:
    """Write ``{'epoch', 'state_dict'}`` (the published format, no ``module.`` prefix) atomically."""
    target = model.module if hasattr(model, "module") else model
    state = {k: v.detach().cpu() for k, v in target.state_dict().items()}
    return save_snapshot(path, {"epoch": int(epoch), "state_dict": state})
