"""MPII Human Pose (COCO-style conversion of 3DMPPE) → :class:`PersonRecord` (16 joints). 2D, training only.

Layout under ``root`` (``data/MPII``; see ``data/MPII/README.md``)::

    images/*.jpg                 the official MPII images
    annotations/train.json       COCO-style: images[] {id, file_name, width, height};
                                 annotations[] {id, image_id, keypoints 16x3 flat, num_keypoints, bbox}

Image paths: the reference joins ``file_name`` onto the dataset folder, while its documented folder tree
puts the images under ``images/``. posenet3d accepts both spellings: a ``file_name`` whose first component is
``images`` is joined onto ``root``; any other ``file_name`` (e.g. ``015601864.jpg``) onto ``root/images``.

Rules (reference §5.5): annotations with ``num_keypoints == 0`` (or crowd) are skipped; ``vis`` = keypoint
flag > 0; ``focal`` = (1500, 1500) px and ``princpt`` = image centre (dummy).
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from ..crop import crop_box
from ..skeletons import MPII as MPII_JOINTS
from ..skeletons import JointSet
from .base import PersonRecord, RecordsAdapter, require_dir
from .coco import DUMMY_FOCAL_PX
from .jsonio import describe, get_array, get_int, get_str, load_coco


def mpii_image_path(root: Path, file_name: str) -> Path:
    """Where an MPII ``file_name`` lives: ``root/file_name`` if it starts with ``images/``, else
    ``root/images/file_name``."""
    parts = PurePosixPath(file_name.replace("\\", "/")).parts
    return root.joinpath(*parts) if parts and parts[0] == "images" else root.joinpath("images", *parts)


class MPII(RecordsAdapter):
    """MPII adapter (training set).

    Args:
        root: the dataset folder.
        split: ``'train'`` (the only split).

    Records: ``joints_img`` ``[u px, v px, 0]`` (16 joints); ``joints_vis`` = flag > 0; ``joints_cam`` and
    ``root_cam`` None; ``root_vis`` = vis of Pelvis; ``has_depth`` False. ``extra``: ``ann_id``.
    """

    name = "MPII"
    joint_set: JointSet = MPII_JOINTS
    has_depth = False

    def __init__(self, root: Path | str, split: str = "train") -> None:
        if split != "train":
            raise ValueError(f"MPII: only the 'train' split exists, got {split!r}")
        self.root = require_dir(root, self.name)
        self.split = split
        self.annot_path = self.root / "annotations" / "train.json"
        self.records: list[PersonRecord] = self._load()

    def _load(self) -> list[PersonRecord]:
        db = load_coco(self.annot_path, self.name)
        path, j = db.path, MPII_JOINTS.joint_num
        records = []
        for image_id, img, what, anns in db.annotated_images():
            width, height = db.image_size(image_id)
            img_path = str(mpii_image_path(self.root, get_str(img, "file_name", path, what)))
            for ann_index, ann in anns:
                ann_what = describe("annotations", ann_index, ann)
                if ann.get("iscrowd", 0):
                    continue
                kp = get_array(ann, "keypoints", path, ann_what, shape=(j * 3,)).reshape(j, 3)
                num_kp = get_int(ann, "num_keypoints", path, ann_what) if "num_keypoints" in ann \
                    else int(np.count_nonzero(kp[:, 2] > 0))
                if num_kp == 0:
                    continue
                bbox = crop_box(get_array(ann, "bbox", path, ann_what, shape=(4,)), width, height)
                if bbox is None:
                    continue
                vis = (kp[:, 2] > 0).astype(np.float32)
                joints_img = kp.copy()
                joints_img[:, 2] = 0.0
                records.append(PersonRecord(
                    img_path=img_path, img_id=image_id, img_size=(width, height), bbox=bbox,
                    joints_img=joints_img, joints_vis=vis, joints_cam=None, root_cam=None,
                    focal=np.array(DUMMY_FOCAL_PX), princpt=np.array([width / 2.0, height / 2.0]),
                    has_depth=False, joint_set=MPII_JOINTS.name, root_vis=float(vis[MPII_JOINTS.root_idx]),
                    score=1.0, extra={"ann_id": ann.get("id", ann_index)}))
        return records
