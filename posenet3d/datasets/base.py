"""What every dataset adapter produces: one :class:`PersonRecord` per annotated (or detected) person.

Adapters read a dataset's published on-disk layout and know nothing about crops or networks; the top-down
codec (:mod:`posenet3d.datasets.topdown`) turns records into network inputs and targets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetError(RuntimeError):
    """A dataset cannot be read: the message names the file, the record and the field at fault."""


@dataclass
class PersonRecord:
    """One person in one image.

    Attributes (frames and units as in :mod:`posenet3d.geometry`):
        img_path: absolute path of the image file.
        img_id: the dataset's image id (int) — used to group people of one image and to write result files.
        img_size: (width, height) of the image in px.
        bbox: the crop box (square, ×1.25; :func:`posenet3d.crop.crop_box`, the one place boxes are processed)
            ``[x, y, w, h]`` px.
        joints_img: (J, 3) ``[u_px, v_px, Z_mm]`` with Z the *absolute* camera depth of each joint
            (0 for 2D-only datasets).
        joints_vis: (J,) float 0/1 — the joint is annotated (and, where the dataset says, visible).
        joints_cam: (J, 3) camera-frame mm, or None for 2D-only datasets.
        root_cam: (3,) camera-frame mm of the root joint, or None.
        root_vis: 1.0 if the root's 2D position is annotated.
        focal: (fx, fy) px; princpt: (cx, cy) px (dummy 1500 and the image centre for 2D-only sets).
        has_depth: the dataset gives metric depth (3D sets) or not (COCO, MPII).
        joint_set: name of the joint set in :mod:`posenet3d.skeletons` the joint arrays are ordered by.
        score: detection score for detected boxes (1.0 for ground truth).
        extra: dataset-specific fields (e.g. ``action_idx`` for Human3.6M, ``ann_id``).
    """

    img_path: str
    img_id: int
    img_size: tuple[int, int]
    bbox: np.ndarray
    joints_img: np.ndarray
    joints_vis: np.ndarray
    joints_cam: np.ndarray | None
    root_cam: np.ndarray | None
    focal: np.ndarray
    princpt: np.ndarray
    has_depth: bool
    joint_set: str
    root_vis: float = 1.0
    score: float = 1.0
    extra: dict = field(default_factory=dict)


class RecordsAdapter:
    """What every adapter shares: ``records`` (a list of :class:`PersonRecord`) as a sequence."""

    records: list[PersonRecord]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> PersonRecord:
        return self.records[i]


def require_dir(path: Path, dataset: str) -> Path:
    """Raise a :class:`DatasetError` naming ``path`` when a dataset folder is missing."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(
            f"{dataset}: expected folder {path} does not exist. See the README's 'Data' section and "
            f"data/{dataset}/README.md for where to get it and how to lay it out, or train on the synthetic "
            f"world (README 'Quickstart').")
    return path


def require_field(record: dict, key: str, file: Path | str, what: str):
    """``record[key]``, or a :class:`DatasetError` naming the file, the record and the missing field."""
    try:
        return record[key]
    except (KeyError, TypeError):
        raise DatasetError(f"{file}: {what} has no field {key!r}") from None
