"""Readers for the published person-box files of 3DMPPE, keyed by image id.

Two kinds of file exist, and they must not be mixed (reference §5.7):

* ``bbox_root_<set>_output.json`` — written by RootNet testing and consumed by PoseNet testing: a list of
  ``{"image_id", "bbox", "root_cam", ["score"]}``. The boxes are **already processed** (square, ×1.25, see
  :func:`posenet3d.geometry.process_bbox`) and are used as they are; ``root_cam`` is RootNet's absolute root
  in camera-frame mm.
* ``bbox_<set>_output.json`` — raw, **non-extended** detector boxes ``{"image_id", "bbox", ["score"]}``
  consumed by RootNet testing, which processes them (:func:`detection_box`). Using the extended file for
  RootNet testing instead lowers MuPoTS AP_root@25cm from 31.0 to 15.1 (RN#22).

Boxes are ``[x, y, w, h]`` in image px. A missing ``score`` reads as 1.0.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..crop import crop_box
from ..skeletons import JointSet
from .base import DatasetError, PersonRecord
from .jsonio import describe, get_array, get_int, load_json


@dataclass(frozen=True)
class Detection:
    """One person box of a box file.

    Attributes:
        image_id: the dataset's image id.
        bbox: ``[x, y, w, h]`` px as written in the file (processed for ``bbox_root`` files, raw otherwise).
        score: detector confidence (1.0 when the file has none).
        root_cam: ``(3,)`` RootNet root in camera-frame mm (``bbox_root`` files), else ``None``.
        processed: ``True`` when ``bbox`` is already square and extended (``bbox_root`` files).
        index: position of the entry in the file (file order is the order results are written in).
    """

    image_id: int
    bbox: np.ndarray
    score: float
    root_cam: np.ndarray | None
    processed: bool
    index: int


def _read(path: Path | str, dataset: str, with_root: bool) -> dict[int, list[Detection]]:
    path = Path(path)
    data = load_json(path, dataset)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of {{image_id, bbox{', root_cam' if with_root else ''}}} "
                           f"entries, got {type(data).__name__}")
    out: dict[int, list[Detection]] = {}
    for i, entry in enumerate(data):
        what = describe("entry", i, entry)
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: {what} is not an object")
        image_id = get_int(entry, "image_id", path, what)
        bbox = get_array(entry, "bbox", path, what, shape=(4,))
        root = get_array(entry, "root_cam", path, what, shape=(3,)) if with_root else None
        score = float(get_array(entry, "score", path, what, shape=())) if "score" in entry else 1.0
        out.setdefault(image_id, []).append(
            Detection(image_id=image_id, bbox=bbox, score=score, root_cam=root, processed=with_root, index=i))
    return out


def read_bbox_root_file(path: Path | str, dataset: str = "detections") -> dict[int, list[Detection]]:
    """Read a ``bbox_root_*_output.json`` file (processed boxes + RootNet roots) → detections by image id.

    ``dataset`` names the dataset in error messages (and its README for a missing file).
    """
    return _read(path, dataset, with_root=True)


def read_bbox_file(path: Path | str, dataset: str = "detections") -> dict[int, list[Detection]]:
    """Read a ``bbox_*_output.json`` file (raw, non-extended detector boxes) → detections by image id."""
    return _read(path, dataset, with_root=False)


def in_file_order(dets_by_image: dict[int, list[Detection]]) -> list[Detection]:
    """All detections of a file, in the order they were written."""
    return sorted((d for dets in dets_by_image.values() for d in dets), key=lambda d: d.index)


def detection_box(det: Detection, img_width: float, img_height: float) -> np.ndarray | None:
    """The processed box to crop with: the file's box for ``bbox_root`` files (already processed, used as
    is), the reference's box processing (:func:`~posenet3d.crop.crop_box`) of it for raw detector boxes
    (``None`` if degenerate)."""
    return crop_box(det.bbox, img_width, img_height, processed=det.processed)


#: Where a test set's person boxes come from: ground truth, a ``bbox_root`` file, or a raw ``bbox`` file.
BOX_SOURCES = ("gt", "bbox_root", "bbox")


def select_box_source(dataset: str, use_gt_info: bool, bbox_root_file: Path | str | None,
                      bbox_file: Path | str | None, default_bbox_root_file: Path
                      ) -> tuple[str, dict[int, list[Detection]] | None, Path | None]:
    """Pick and read the box source of a test set → ``(source, detections by image id, file)``
    (``("gt", None, None)`` for ground truth).

    ``use_gt_info=True`` → ground-truth boxes and roots (``"gt"``; the files are not read). Otherwise a given
    ``bbox_file`` (raw detector boxes, RootNet testing) wins; else ``bbox_root_file`` or, when that is
    ``None``, ``default_bbox_root_file`` (processed boxes + RootNet roots, PoseNet testing).
    """
    if use_gt_info:
        return "gt", None, None
    if bbox_file is not None:
        return "bbox", read_bbox_file(bbox_file, dataset), Path(bbox_file)
    path = default_bbox_root_file if bbox_root_file is None else Path(bbox_root_file)
    return "bbox_root", read_bbox_root_file(path, dataset), path


def detection_records(detections: dict[int, list[Detection]], box_file: Path | str | None, db,
                      image_info: Callable[[object, int], tuple], joint_set: JointSet, has_depth: bool
                      ) -> list[PersonRecord]:
    """One :class:`PersonRecord` per usable detection, in file order, with zero joints (no ground truth):
    ``image_info(db, image_id)`` gives ``(img_path, size, focal, princpt, extra)``; boxes via
    :func:`detection_box`; ``root_cam`` from the file when it has one (RootNet output)."""
    j = joint_set.joint_num
    records = []
    for det in in_file_order(detections):
        db.image(det.image_id, f"entry[{det.index}] of {box_file}")
        img_path, size, focal, princpt, extra = image_info(db, det.image_id)
        bbox = detection_box(det, *size)
        if bbox is None:
            continue
        records.append(PersonRecord(
            img_path=img_path, img_id=det.image_id, img_size=size, bbox=bbox,
            joints_img=np.zeros((j, 3)), joints_vis=np.zeros(j, dtype=np.float32), joints_cam=None,
            root_cam=None if det.root_cam is None else det.root_cam.copy(), focal=np.array(focal, dtype=np.float64),
            princpt=np.array(princpt, dtype=np.float64), has_depth=has_depth, joint_set=joint_set.name,
            root_vis=0.0, score=det.score, extra={**extra, "det_index": det.index}))
    return records
