"""The task interface the engine relies on, and the pieces the PoseNet and RootNet tasks share.

A task is one network's training and testing: :class:`Task` declares what the engine calls. Each network keeps
its task next to its model (:mod:`posenet3d.posenet.task`, :mod:`rootnet.task`, :mod:`posenet3d.detection.task`);
:mod:`posenet3d.tasks` is the table of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .config import Config, ConfigError
from .crop import CropRecord, stack_records
from .datasets.registry import build_dataset, get_evaluator
from .nets.backbone import ResNetBackbone


@runtime_checkable
class Task(Protocol):
    """What the engine needs from a network's task."""

    name: str  #: ``model.task`` in configs
    image_key: str  #: the batch entry holding the input images (copied in channels_last when asked)
    #: (figure of :meth:`figures`, ``"min"`` or ``"max"``): what makes a snapshot the best one
    main_metric: tuple[str, str]

    def build_model(self, cfg: Config, for_training: bool = True) -> nn.Module:
        """The network of ``cfg.model`` (with its pretrained trunk when ``for_training``)."""

    def train_dataset(self, cfg: Config) -> Dataset:
        """The training set; items are dicts of tensors (an optional ``bad`` flag counts unreadable images)."""

    def loss(self, net: nn.Module, batch: dict, cfg: Config) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss, {term: detached or not tensor}) on a batch the engine has moved to the device."""

    def test(self, cfg: Config, model: nn.Module, device: torch.device, tag: str) -> dict:
        """Evaluate ``model`` on the config's test set; write result files; return the figures."""

    def figures(self, cfg: Config, results: dict) -> dict[str, float]:
        """The main figures of :meth:`test`'s results as flat ``{name: number}`` (names carry the unit: ``_mm``,
        ``_percent``), for ``metrics.jsonl``, the log and TensorBoard during training."""


def backbone_from_config(cfg: Config, for_training: bool) -> ResNetBackbone:
    """The ResNet trunk of ``cfg.model``; for training, with ImageNet weights or a file's trunk if asked."""
    m = cfg.model
    backbone = ResNetBackbone(m.backbone_depth, m.backbone_width)
    if for_training and m.pretrained.lower() not in ("none", ""):
        if m.pretrained.lower() == "imagenet" and m.backbone_width != 1.0:
            raise ConfigError(f"model.pretrained: imagenet needs model.backbone_width 1.0 (got {m.backbone_width}); "
                              "use model.pretrained=none or a snapshot of a network of this width")
        backbone.load_imagenet(None if m.pretrained.lower() == "imagenet" else m.pretrained)
    return backbone


def dataset_adapter(cfg: Config, name: str, split: str, **options):
    """The dataset adapter ``name`` for ``split`` at the config's root (Human3.6M with the config's protocol)."""
    root = cfg.data.roots.get(name)
    if name == "Human36M":
        options.setdefault("protocol", cfg.data.h36m_protocol)
    return build_dataset(name, split, root=root, **options)


def test_adapters(cfg: Config, **box_options):
    """(test set with the boxes the config asks for, the same test set with ground-truth people) — the same
    object when the boxes are ground truth."""
    gt = dataset_adapter(cfg, cfg.data.testset, "test", use_gt_info=True)
    if cfg.test.use_gt_info or not any(box_options.values()):
        return _first_images(gt, gt, cfg.test.max_samples)
    return _first_images(dataset_adapter(cfg, cfg.data.testset, "test", use_gt_info=False, **box_options), gt,
                         cfg.test.max_samples)


def _first_images(adapter, gt, max_people: int):
    """(adapter, gt) cut to the first test images (in the ground truth's order) holding at most ``max_people``
    ground-truth people together (at least one image); unchanged when ``max_people`` is 0. Whole images only, so
    per-image evaluation (MuPoTS matching, AP_root) sees every person of each image it scores."""
    if max_people <= 0 or len(gt.records) <= max_people:
        return adapter, gt
    counts: dict[int, int] = {}
    for r in gt.records:
        counts[int(r.img_id)] = counts.get(int(r.img_id), 0) + 1
    keep, total = set(), 0
    for img_id, n in counts.items():
        if keep and total + n > max_people:
            break
        keep.add(img_id)
        total += n
    for a in {id(adapter): adapter, id(gt): gt}.values():
        a.records = [r for r in a.records if int(r.img_id) in keep]
    return adapter, gt


def part_of_test_set(cfg: Config) -> dict:
    """``{"max_samples": K}`` for a result of a test cut by ``test.max_samples`` (nothing for the whole set), so a
    result file says when its figures are of a part only."""
    return {"max_samples": cfg.test.max_samples} if cfg.test.max_samples > 0 else {}


def test_evaluator(cfg: Config, gt_adapter):
    """The test set's own evaluator (chosen by the dataset registry)."""
    return get_evaluator(cfg.data.testset, gt_adapter)


def test_loader(dataset: Dataset, cfg: Config) -> DataLoader:
    return DataLoader(dataset, batch_size=cfg.test.batch_size, shuffle=False, num_workers=cfg.data.num_workers)


def crop_records(records, batches: list[dict]) -> CropRecord:
    """The crop record of every test sample, in order: the exact affines the crops were cut with (from the
    batches) and the records' crop boxes (float64, as the reference's decoding reads them)."""
    if not batches:
        return stack_records([])
    return CropRecord(np.array([r.bbox for r in records], dtype=np.float64).reshape(-1, 4),
                      torch.cat([b["crop_affine"] for b in batches]).numpy(),
                      torch.cat([b["crop_inverse"] for b in batches]).numpy())


def result_dir(cfg: Config) -> Path:
    return Path(cfg.output_dir) / "result"
