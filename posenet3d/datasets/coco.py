"""MSCOCO person keypoints → :class:`PersonRecord` (19 joints: 17 COCO + Thorax + Pelvis). 2D only.

Layout under ``root`` (``data/MSCOCO``; see ``data/MSCOCO/README.md``)::

    images/train2017/*.jpg, images/val2017/*.jpg
    annotations/person_keypoints_train2017.json, annotations/person_keypoints_val2017.json
    bbox_root/bbox_root_coco_output.json      processed val2017 boxes + RootNet roots (f = 1500; PoseNet test)

Rules (reference §5.4): annotations that are crowd or have ``num_keypoints == 0`` are skipped. Thorax is
the mean of the shoulders and Pelvis the mean of the hips; the flag of an added joint is the product of
its two sources' flags, and ``vis = flag > 0``. COCO has no camera, so ``focal`` = (1500, 1500) px and
``princpt`` = the image centre (dummy values, as RootNet was trained with).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..crop import crop_box
from ..skeletons import COCO, COCO_KEYPOINT_NUM, JointSet
from .base import PersonRecord, RecordsAdapter, require_dir
from .detections import detection_records, select_box_source
from .jsonio import CocoFile, describe, get_array, get_int, get_str, load_coco

#: Focal length (px) assumed for images without a camera (COCO, MPII, the demo).
DUMMY_FOCAL_PX = (1500.0, 1500.0)

_IMAGE_FOLDER = {"train": "train2017", "test": "val2017"}
_LS, _RS = COCO.index("L_Shoulder"), COCO.index("R_Shoulder")
_LH, _RH = COCO.index("L_Hip"), COCO.index("R_Hip")


def add_thorax_pelvis(keypoints: np.ndarray) -> np.ndarray:
    """``(17, 3)`` COCO ``[u px, v px, flag]`` → ``(19, 3)`` with Thorax (mean of the shoulders) and Pelvis
    (mean of the hips) appended; each added flag is the product of its two sources' flags."""
    kp = np.asarray(keypoints, dtype=np.float64)
    added = []
    for a, b in ((_LS, _RS), (_LH, _RH)):
        joint = (kp[a] + kp[b]) * 0.5
        joint[2] = kp[a, 2] * kp[b, 2]
        added.append(joint)
    return np.concatenate([kp, np.stack(added)], axis=0)


class MSCOCO(RecordsAdapter):
    """MSCOCO 2017 person-keypoint adapter.

    Args:
        root: the dataset folder.
        split: ``'train'`` (train2017) or ``'test'`` (val2017).
        use_gt_info: test only — ``True``: val2017 ground-truth boxes (as RootNet's COCO test); ``False``:
            one record per entry of ``bbox_file`` (raw boxes, processed here) if given, else of
            ``bbox_root_file`` (default ``bbox_root/bbox_root_coco_output.json``; boxes used as they are,
            ``root_cam`` = RootNet's root), with zero joints and ``joints_vis`` 0.

    Records: ``joints_img`` ``[u px, v px, 0]`` (19 joints); ``joints_vis`` = flag > 0; ``joints_cam`` and
    ``root_cam`` None (GT mode); ``root_vis`` = vis of Pelvis; ``has_depth`` False. ``extra``: ``ann_id``
    (GT mode) or ``det_index``, ``mat_key`` (``coco_<file stem>``), ``box_source``.
    """

    name = "MSCOCO"
    joint_set: JointSet = COCO
    has_depth = False

    def __init__(self, root: Path | str, split: str = "train", use_gt_info: bool = True,
                 bbox_root_file: Path | str | None = None, bbox_file: Path | str | None = None) -> None:
        if split not in _IMAGE_FOLDER:
            raise ValueError(f"MSCOCO: split must be 'train' or 'test', got {split!r}")
        self.root = require_dir(root, self.name)
        self.split = split
        folder = _IMAGE_FOLDER[split]
        self.img_dir = self.root / "images" / folder
        self.annot_path = self.root / "annotations" / f"person_keypoints_{folder}.json"
        if split == "test":
            self.box_source, detections, self.box_file = select_box_source(
                self.name, use_gt_info, bbox_root_file, bbox_file,
                self.root / "bbox_root" / "bbox_root_coco_output.json")
        else:
            self.box_source, detections, self.box_file = "gt", None, None
        db = load_coco(self.annot_path, self.name, need_annotations=detections is None)
        self.records: list[PersonRecord] = self._load_gt(db) if detections is None \
            else self._load_detections(db, detections)

    def _image_info(self, db: CocoFile, image_id: int) -> tuple:
        img = db.images[image_id]
        path, what = db.path, db.image_what(image_id)
        width, height = db.image_size(image_id)
        file_name = get_str(img, "file_name", path, what)
        extra = {"mat_key": f"coco_{Path(file_name).stem}", "box_source": self.box_source}
        return str(self.img_dir / file_name), (width, height), np.array(DUMMY_FOCAL_PX), \
            np.array([width / 2.0, height / 2.0]), extra

    def _load_gt(self, db: CocoFile) -> list[PersonRecord]:
        path = db.path
        records = []
        for image_id, _, _, anns in db.annotated_images():
            img_path, size, focal, princpt, extra = self._image_info(db, image_id)
            for ann_index, ann in anns:
                what = describe("annotations", ann_index, ann)
                if ann.get("iscrowd", 0):
                    continue
                flat = get_array(ann, "keypoints", path, what, shape=(COCO_KEYPOINT_NUM * 3,))
                kp = flat.reshape(COCO_KEYPOINT_NUM, 3)
                num_kp = get_int(ann, "num_keypoints", path, what) if "num_keypoints" in ann \
                    else int(np.count_nonzero(kp[:, 2] > 0))
                if num_kp == 0:
                    continue
                bbox = crop_box(get_array(ann, "bbox", path, what, shape=(4,)), *size)
                if bbox is None:
                    continue
                kp19 = add_thorax_pelvis(kp)
                vis = (kp19[:, 2] > 0).astype(np.float32)
                joints_img = kp19.copy()
                joints_img[:, 2] = 0.0
                records.append(PersonRecord(
                    img_path=img_path, img_id=image_id, img_size=size, bbox=bbox, joints_img=joints_img,
                    joints_vis=vis, joints_cam=None, root_cam=None, focal=focal.copy(), princpt=princpt.copy(),
                    has_depth=False, joint_set=COCO.name, root_vis=float(vis[COCO.root_idx]), score=1.0,
                    extra={**extra, "ann_id": ann.get("id", ann_index)}))
        return records

    def _load_detections(self, db: CocoFile, detections: dict) -> list[PersonRecord]:
        return detection_records(detections, self.box_file, db, self._image_info, COCO, has_depth=False)
