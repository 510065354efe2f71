"""PyTorch datasets over :class:`PersonRecord` lists: PoseNet and RootNet samples, and 3D/2D mixing.

Every sample is a dict of tensors (default ``collate`` works):

* :class:`PoseDataset`: ``img`` (3, H, W) float32, ``joints_hm`` (J, 3) float32 heatmap units,
  ``vis`` (J,) float32, ``has_depth`` () float32, plus the geometry needed to decode — ``bbox`` (4,) crop
  box px, the crop record ``crop_affine``/``crop_inverse`` (2, 3) float64 (image px ⇄ patch px, see
  :func:`crop_record_of`), ``z_root_mm`` (), ``focal`` (2,), ``princpt`` (2,) — and ``img_id``, ``index``
  (the record used), ``bad`` (the number of unreadable images skipped to produce this sample).
* :class:`RootDataset`: ``img``, ``root`` (3,) ``[x_hm, y_hm, Z_root_mm]``, ``root_vis`` (), ``k_value`` () mm,
  ``has_depth``, ``bbox``, ``crop_affine``, ``crop_inverse``, ``focal``, ``princpt``, ``img_id``, ``index``,
  ``bad``.

**Determinism.** A sample's augmentation comes from ``numpy.random.default_rng([seed, salt, epoch, index])``
(``salt``: a CRC of the dataset's size and first image path, so two datasets mixed under one seed do not share
augmentation draws): it depends on the dataset, its seed, the epoch and the index only, never on the worker
or process that loads it, nor on the number of workers or GPUs. Call :meth:`set_epoch` before each epoch; the
epoch lives in a shared-memory tensor, so DataLoader workers (forked, spawned, or ``persistent_workers=True``)
see it as long as it is set before the epoch's iterator is created.

**OpenCV threads.** Do not call ``cv2.setNumThreads`` in a forked worker (e.g. in ``worker_init_fn``) once
the parent process has used OpenCV: its thread pool's inherited condition variables make the call hang forever.

**Unreadable images.** During training (``skip_bad=True``, the default when ``train``) a missing, corrupt or
truncated image is logged (``logging.warning`` with its path, once per worker process), and the next record
(index + 1, deterministically) is used instead; the returned sample's ``bad`` field counts the skipped images,
so the training loop adds ``batch["bad"].sum()`` up across workers (:func:`count_bad`). Never a black image.
At test time (``skip_bad=False``) the same condition raises :class:`DatasetError` naming the file.
"""
from __future__ import annotations

import abc
import logging
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from posenet3d.crop import CropRecord
from posenet3d.media import MediaError, read_image
from posenet3d.skeletons import JointSet, get_joint_set

from .augment import NO_AUG, AugConfig, AugParams, sample_aug
from .base import DatasetError, PersonRecord
from .topdown import TopDownCodec, record_root_depth_mm

log = logging.getLogger(__name__)

def read_image_bgr(path: str | Path) -> np.ndarray:
    """:func:`posenet3d.media.read_image`, raising :class:`DatasetError` (what the bad-image skipping catches)."""
    try:
        return read_image(path)
    except MediaError as exc:
        raise DatasetError(str(exc)) from None


def count_bad(batch: Mapping) -> int:
    """The number of unreadable images skipped while loading a collated ``batch`` (its ``bad`` field)."""
    return int(torch.as_tensor(batch["bad"]).sum().item())


def _f32(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def _crop_fields(crop: CropRecord) -> dict[str, torch.Tensor]:
    """The crop record as sample fields (float64, so a decode inverts the very matrices the warp used)."""
    return {"crop_affine": torch.from_numpy(np.asarray(crop.affine, dtype=np.float64)),
            "crop_inverse": torch.from_numpy(np.asarray(crop.inverse, dtype=np.float64))}


def crop_record_of(batch: Mapping) -> CropRecord:
    """The :class:`~posenet3d.crop.CropRecord` batch of a collated sample batch (``bbox``, ``crop_affine``,
    ``crop_inverse``), to decode with."""
    return CropRecord(np.asarray(batch["bbox"], dtype=np.float64), np.asarray(batch["crop_affine"]),
                      np.asarray(batch["crop_inverse"]))


class _TopDownDataset(Dataset, abc.ABC):
    """Shared machinery: records, seeding per (seed, epoch, index), image reading and bad-image skipping."""

    def __init__(self, records: Sequence[PersonRecord], codec: TopDownCodec, train: bool,
                 aug_cfg: AugConfig, seed: int, skip_bad: bool | None, max_skip: int) -> None:
        self.records = list(records)
        self.codec = codec
        self.train = bool(train)
        self.aug_cfg = aug_cfg
        self.seed = int(seed)
        self.skip_bad = self.train if skip_bad is None else bool(skip_bad)
        self.max_skip = int(max_skip)
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        # decorrelates datasets mixed under one seed (stable across processes, unlike hash())
        self.salt = zlib.crc32(f"{len(self.records)}:{self.records[0].img_path}".encode()) if self.records else 0
        self._warned: set[str] = set()
        for name in {r.joint_set for r in self.records}:
            get_joint_set(name)  # fails early, naming the unknown joint set

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (seen by all DataLoader workers)."""
        self._epoch.fill_(int(epoch))

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.salt, self.epoch, int(index)])

    def aug_params(self, index: int, img_width: int, img_height: int) -> AugParams:
        """The augmentation of sample ``index`` (no augmentation when not training)."""
        if not self.train:
            return NO_AUG
        return sample_aug(self.rng(index), self.records[index].bbox, img_width, img_height, self.aug_cfg)

    def _load(self, index: int) -> np.ndarray:
        rec = self.records[index]
        img = read_image_bgr(rec.img_path)
        w, h = (int(v) for v in rec.img_size)
        if img.shape[1] != w or img.shape[0] != h:
            raise DatasetError(f"image {rec.img_path} is {img.shape[1]}x{img.shape[0]} px but record "
                               f"{index} (img_id {rec.img_id}) says img_size {w}x{h}")
        return img

    @abc.abstractmethod
    def _encode(self, img: np.ndarray, index: int) -> dict:
        """The network's sample dict for record ``index`` and its image."""

    def __getitem__(self, index: int) -> dict:
        n = len(self.records)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} records")
        index %= n
        bad = 0
        for attempt in range(min(self.max_skip + 1, n)):
            i = (index + attempt) % n
            try:
                img = self._load(i)
            except DatasetError as exc:
                if not self.skip_bad:
                    raise
                bad += 1
                path = str(self.records[i].img_path)
                if path not in self._warned:
                    self._warned.add(path)
                    log.warning("skipping unreadable training image %s: %s", path, exc)
                continue
            sample = self._encode(img, i)
            sample["img_id"] = torch.tensor(int(self.records[i].img_id), dtype=torch.int64)
            sample["index"] = torch.tensor(i, dtype=torch.int64)
            sample["bad"] = torch.tensor(bad, dtype=torch.int64)
            return sample
        raise DatasetError(f"{bad} consecutive unreadable images from record {index} "
                           f"({self.records[index].img_path}) on; check the dataset folder")


class PoseDataset(_TopDownDataset):
    """PoseNet samples from person records, joints re-indexed by name into ``joint_set_out``.

    Args:
        records: the adapter's :class:`PersonRecord` list (any joint sets).
        joint_set_out: the model's joint set (or its name in :mod:`posenet3d.skeletons`).
        codec: the shared :class:`TopDownCodec`.
        train: augment (reference PoseNet augmentation unless ``aug_cfg``) and skip unreadable images.
        aug_cfg: augmentation strengths (default :meth:`AugConfig.posenet`).
        seed: base seed of the augmentation (module docstring).
        skip_bad: skip unreadable images (default: ``train``); otherwise raise.
        max_skip: give up (DatasetError) after this many consecutive unreadable images.
    """

    def __init__(self, records: Sequence[PersonRecord], joint_set_out: JointSet | str, codec: TopDownCodec,
                 train: bool, aug_cfg: AugConfig | None = None, seed: int = 0, skip_bad: bool | None = None,
                 max_skip: int = 16) -> None:
        super().__init__(records, codec, train, aug_cfg or AugConfig.posenet(), seed, skip_bad, max_skip)
        self.joint_set_out = get_joint_set(joint_set_out) if isinstance(joint_set_out, str) else joint_set_out

    def _encode(self, img: np.ndarray, index: int) -> dict:
        rec = self.records[index]
        aug = self.aug_params(index, img.shape[1], img.shape[0])
        t = self.codec.encode_pose_record(img, rec, self.joint_set_out, aug)
        return {
            "img": t.img,
            "joints_hm": torch.from_numpy(t.joints_hm),
            "vis": torch.from_numpy(t.vis),
            "has_depth": _f32(t.has_depth),
            "bbox": _f32(rec.bbox).reshape(4),
            **_crop_fields(t.crop),
            "z_root_mm": _f32(record_root_depth_mm(rec)),
            "focal": _f32(rec.focal).reshape(2),
            "princpt": _f32(rec.princpt).reshape(2),
        }


class RootDataset(_TopDownDataset):
    """RootNet samples (root of each record's own joint set) with their k values.

    Arguments as :class:`PoseDataset` (no joint set); ``aug_cfg`` defaults to :meth:`AugConfig.rootnet`
    (rotation, flip, colour; no scale, no occlusion).
    """

    def __init__(self, records: Sequence[PersonRecord], codec: TopDownCodec, train: bool,
                 aug_cfg: AugConfig | None = None, seed: int = 0, skip_bad: bool | None = None,
                 max_skip: int = 16) -> None:
        super().__init__(records, codec, train, aug_cfg or AugConfig.rootnet(), seed, skip_bad, max_skip)

    def _encode(self, img: np.ndarray, index: int) -> dict:
        rec = self.records[index]
        aug = self.aug_params(index, img.shape[1], img.shape[0])
        t = self.codec.encode_root_record(img, rec, aug)
        return {
            "img": t.img,
            "root": torch.from_numpy(t.root),
            "root_vis": _f32(t.root_vis),
            "k_value": _f32(t.k_value),
            "has_depth": _f32(t.has_depth),
            "bbox": _f32(rec.bbox).reshape(4),
            **_crop_fields(t.crop),
            "focal": _f32(rec.focal).reshape(2),
            "princpt": _f32(rec.princpt).reshape(2),
        }


class MixedDataset(Dataset):
    """Groups of datasets mixed in equal shares per epoch, as the reference's
    ``MultipleDatasets([concat(3D sets), concat(2D sets)], make_same_len=True)``.

    ``groups`` are datasets or lists of datasets (each list concatenated); empty groups are dropped. The
    length is ``len(groups) · max(group lengths)``: index ``g·M + j`` (M = the longest group's length) reads
    group ``g`` at ``j mod len(g)`` for the full cycles, and at an index drawn from
    ``default_rng([seed, epoch, index])`` in the last, partial cycle. A shuffling sampler therefore yields
    about half 3D and half 2D samples per batch for ``MixedDataset([sets_3d, sets_2d])``.
    :meth:`set_epoch` reaches every member dataset.
    """

    def __init__(self, groups: Sequence[Dataset | Sequence[Dataset]], seed: int = 0) -> None:
        concat = []
        for g in groups:
            members = list(g) if isinstance(g, (list, tuple)) else [g]
            members = [d for d in members if len(d) > 0]
            if members:
                concat.append(members[0] if len(members) == 1 else ConcatDataset(members))
        if not concat:
            raise ValueError("MixedDataset: every group is empty; nothing to train on")
        joint_sets = {d.joint_set_out.name for d in self._leaves(concat) if hasattr(d, "joint_set_out")}
        if len(joint_sets) > 1:
            raise ValueError(f"MixedDataset: member datasets output different joint sets {sorted(joint_sets)}")
        self.groups = concat
        self.seed = int(seed)
        self.max_len = max(len(d) for d in concat)
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    @staticmethod
    def _leaves(datasets) -> list:
        out = []
        for d in datasets:
            out.extend(MixedDataset._leaves(d.datasets) if isinstance(d, ConcatDataset) else [d])
        return out

    def __len__(self) -> int:
        return len(self.groups) * self.max_len

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch here and in every member dataset that has ``set_epoch``."""
        self._epoch.fill_(int(epoch))
        for d in self._leaves(self.groups):
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def locate(self, index: int) -> tuple[int, int]:
        """``(group, index within the group)`` of mixed ``index`` in the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a mixed dataset of {len(self)}")
        g, j = divmod(int(index), self.max_len)
        n = len(self.groups[g])
        if j >= n * (self.max_len // n):
            j = int(np.random.default_rng([self.seed, int(self._epoch.item()), int(index)]).integers(n))
        else:
            j %= n
        return g, j

    def __getitem__(self, index: int):
        g, j = self.locate(index)
        return self.groups[g][j]

