"""MuPoTS-3D in the 3DMPPE published layout → :class:`PersonRecord` (17 MuPoTS joints). Test only.

Layout under ``root`` (``data/MuPoTS``; the synthetic world writes the same layout under
``data/Synthetic/test``; see ``data/MuPoTS/README.md``)::

    data/MuPoTS-3D.json                      images[]: {id, file_name 'TS{n}/img_{frame:06d}.jpg', width, height,
                                                        intrinsic [fx, fy, cx, cy] px}
                                             annotations[]: {id, image_id, keypoints_cam 17x3 mm,
                                                             keypoints_img 17x2 px, keypoints_vis 17, bbox, is_valid}
    data/MultiPersonTestSet/TS{n}/img_{frame:06d}.jpg
    bbox_root/bbox_root_mupots_output.json   processed boxes + RootNet roots + scores (PoseNet testing)
    bbox/bbox_mupots_output.json             raw detector boxes + scores (RootNet testing; pass ``bbox_file``)

Ground-truth mode keeps only annotations with ``is_valid == 1``. Detection mode makes one record per box of
the box file, in file order, with no ground-truth joints (evaluators read the annotations themselves).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..crop import crop_box
from ..skeletons import MUPOTS, JointSet
from .base import DatasetError, PersonRecord, RecordsAdapter, require_dir, require_field
from .detections import detection_records, select_box_source
from .jsonio import CocoFile, describe, get_array, get_str, load_coco

_FILE_NAME = re.compile(r"TS(\d+)/img_(\d+)\.\w+$")


def parse_file_name(file_name: str) -> tuple[int, int] | None:
    """``'TS3/img_000012.jpg'`` → ``(3, 12)`` = (sequence 1..20, 0-based frame); ``None`` if it does not match.

    These name the MATLAB result keys ``TS{seq}_img_{frame:06d}``.
    """
    m = _FILE_NAME.search(file_name.replace("\\", "/"))
    return (int(m.group(1)), int(m.group(2))) if m else None


class MuPoTS(RecordsAdapter):
    """MuPoTS-3D adapter (test set).

    Args:
        root: the dataset folder (``data/MuPoTS`` or ``data/Synthetic/test``).
        split: ``'test'`` (the only split).
        use_gt_info: ``True``: one record per annotation with ``is_valid == 1``, box =
            ``process_bbox(ann['bbox'])``, GT joints and root. ``False``: one record per entry of
            ``bbox_file`` (raw detector boxes, processed here; ``root_cam`` None) if given, else of
            ``bbox_root_file`` (default ``bbox_root/bbox_root_mupots_output.json``; boxes used as they are,
            ``root_cam`` = RootNet's root), with zero joints and ``joints_vis`` 0.

    Records: ``focal``/``princpt`` from the image ``intrinsic``; ``joints_img`` = ``[keypoints_img u, v px,
    keypoints_cam Z mm]``; ``joints_vis`` ones (GT mode); ``root_vis`` = ``keypoints_vis[Pelvis]``.
    ``extra``: ``seq`` (1..20), ``frame`` (0-based), ``mat_key`` (``TS{seq}_img_{frame:06d}``), ``box_source``,
    and ``ann_id`` (GT mode) or ``det_index`` (position in the box file).
    """

    name = "MuPoTS"
    joint_set: JointSet = MUPOTS
    has_depth = True

    def __init__(self, root: Path | str, split: str = "test", use_gt_info: bool = True,
                 bbox_root_file: Path | str | None = None, bbox_file: Path | str | None = None) -> None:
        if split != "test":
            raise ValueError(f"MuPoTS: only the 'test' split exists, got {split!r}")
        self.root = require_dir(root, self.name)
        self.split = split
        self.annot_path = self.root / "data" / "MuPoTS-3D.json"
        self.img_dir = self.root / "data" / "MultiPersonTestSet"
        self.box_source, detections, self.box_file = select_box_source(
            self.name, use_gt_info, bbox_root_file, bbox_file,
            self.root / "bbox_root" / "bbox_root_mupots_output.json")
        db = load_coco(self.annot_path, self.name)
        self.records: list[PersonRecord] = self._load_gt(db) if detections is None \
            else self._load_detections(db, detections)

    def _image_info(self, db: CocoFile, image_id: int) -> tuple:
        img = db.images[image_id]
        path, what = db.path, db.image_what(image_id)
        width, height = db.image_size(image_id)
        intrinsic = get_array(img, "intrinsic", path, what, shape=(4,))
        file_name = get_str(img, "file_name", path, what)
        parsed = parse_file_name(file_name)
        if parsed is None:
            raise DatasetError(f"{path}: {what} field 'file_name' is {file_name!r}, expected 'TS<n>/img_<frame>.jpg'")
        seq, frame = parsed
        extra = {"seq": seq, "frame": frame, "mat_key": f"TS{seq}_img_{frame:06d}", "box_source": self.box_source}
        return str(self.img_dir / file_name), (width, height), intrinsic[:2].copy(), intrinsic[2:].copy(), extra

    def _load_gt(self, db: CocoFile) -> list[PersonRecord]:
        path, j, root_idx = db.path, MUPOTS.joint_num, MUPOTS.root_idx
        records = []
        for image_id, _, _, anns in db.annotated_images():
            img_path, size, focal, princpt, extra = self._image_info(db, image_id)
            for ann_index, ann in anns:
                what = describe("annotations", ann_index, ann)
                is_valid = require_field(ann, "is_valid", path, what)
                if is_valid not in (0, 1):  # True/False compare equal to 1/0
                    raise DatasetError(f"{path}: {what} field 'is_valid' is {is_valid!r}, expected 0 or 1")
                if is_valid != 1:
                    continue
                bbox = crop_box(get_array(ann, "bbox", path, what, shape=(4,)), *size)
                if bbox is None:
                    continue
                jc = get_array(ann, "keypoints_cam", path, what, shape=(j, 3))
                uv = get_array(ann, "keypoints_img", path, what, shape=(j, 2))
                kp_vis = get_array(ann, "keypoints_vis", path, what, shape=(j,)) \
                    if "keypoints_vis" in ann else np.ones(j)
                records.append(PersonRecord(
                    img_path=img_path, img_id=image_id, img_size=size, bbox=bbox,
                    joints_img=np.concatenate([uv, jc[:, 2:]], axis=1), joints_vis=np.ones(j, dtype=np.float32),
                    joints_cam=jc, root_cam=jc[root_idx].copy(), focal=focal, princpt=princpt, has_depth=True,
                    joint_set=MUPOTS.name, root_vis=float(kp_vis[root_idx] > 0), score=1.0,
                    extra={**extra, "ann_id": ann.get("id", ann_index)}))
        return records

    def _load_detections(self, db: CocoFile, detections: dict) -> list[PersonRecord]:
        return detection_records(detections, self.box_file, db, self._image_info, MUPOTS, has_depth=True)
