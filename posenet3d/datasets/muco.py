"""MuCo-3DHP in the 3DMPPE published layout → :class:`PersonRecord` (21 MuCo joints). Training only.

Layout under ``root`` (``data/MuCo``; the synthetic world writes the same layout under
``data/Synthetic/train``; see ``data/MuCo/README.md``)::

    data/MuCo-3DHP.json      images[]: {id, file_name, width, height, f [fx, fy] px, c [cx, cy] px}
                             annotations[]: {id, image_id, keypoints_cam 21x3 mm, keypoints_img 21x2 px,
                                             keypoints_vis 21, bbox [x, y, w, h] px}
    data/augmented_set/...   images; ``file_name`` is relative to ``root/data``
    data/unaugmented_set/...

Person selection per image (reference §5.2, after the SingleShotMultiPerson protocol): keep the person whose
root (Pelvis) is closest to the camera; keep each other person only if their root is at least 500 mm from
*every other* person's root of the image (kept or not), both in the xy plane and in 3D. RootNet also drops
people whose root depth lies outside ``[min_depth, max_depth]`` (1500, 7500 mm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..crop import crop_box
from ..skeletons import MUCO, JointSet
from .base import PersonRecord, RecordsAdapter, require_dir
from .jsonio import describe, get_array, get_str, load_coco

#: Minimum root-to-root distance (mm, xy and 3D) for a non-closest person to be kept.
MIN_ROOT_DISTANCE_MM = 500.0
#: RootNet's root-depth range (mm) for MuCo training.
ROOTNET_DEPTH_RANGE_MM = (1500.0, 7500.0)


def select_people(roots_cam_mm: np.ndarray, min_distance_mm: float = MIN_ROOT_DISTANCE_MM) -> list[int]:
    """Indices of the people of one image kept for training, closest first, then in file order.

    ``roots_cam_mm`` is ``(N, 3)`` camera-frame root positions. The person with the smallest Z is always kept
    (the first on ties). Any other person ``i`` is kept only if for every ``j != i`` both
    ``‖root_i[:2] − root_j[:2]‖ ≥ min_distance_mm`` and ``‖root_i − root_j‖ ≥ min_distance_mm`` — every other
    person counts, whether kept or not, as in the reference. (The 3D distance is never below the xy
    distance, so the xy test alone decides; both are kept to mirror the published rule.)
    """
    roots = np.asarray(roots_cam_mm, dtype=np.float64).reshape(-1, 3)
    n = len(roots)
    if n == 0:
        return []
    closest = int(np.argmin(roots[:, 2]))
    diff = roots[:, None, :] - roots[None, :, :]
    dist_xy = np.linalg.norm(diff[..., :2], axis=-1)
    dist_3d = np.linalg.norm(diff, axis=-1)
    too_close = (dist_xy < min_distance_mm) | (dist_3d < min_distance_mm)
    np.fill_diagonal(too_close, False)
    keep = [closest]
    keep += [i for i in range(n) if i != closest and not too_close[i].any()]
    return keep


class MuCo(RecordsAdapter):
    """MuCo-3DHP adapter (training set).

    Args:
        root: the dataset folder holding ``data/MuCo-3DHP.json`` (``data/MuCo`` or ``data/Synthetic/train``).
        split: ``'train'`` (the only split).
        min_depth, max_depth: if given, drop people whose root Z (mm) is outside ``[min_depth, max_depth]``
            (RootNet: :data:`ROOTNET_DEPTH_RANGE_MM`); PoseNet uses no depth filter.
        min_root_distance: the selection distance in mm (:data:`MIN_ROOT_DISTANCE_MM`).

    Records: ``joints_img`` = ``[keypoints_img u px, v px, keypoints_cam Z mm]``; ``joints_cam`` (21, 3) mm;
    ``root_cam`` = ``joints_cam[Pelvis]``; ``joints_vis`` all ones (PoseNet); ``root_vis`` =
    ``keypoints_vis[Pelvis]`` (RootNet; 1 if the file has no ``keypoints_vis``); ``focal``/``princpt`` = the
    image's ``f``/``c``; ``bbox`` = :func:`~posenet3d.crop.crop_box` of ``ann['bbox']`` (used as it is when the
    annotation says ``bbox_processed``, as the sample pool's do). ``extra``: ``ann_id``.
    """

    name = "MuCo"
    joint_set: JointSet = MUCO
    has_depth = True

    def __init__(self, root: Path | str, split: str = "train", min_depth: float | None = None,
                 max_depth: float | None = None, min_root_distance: float = MIN_ROOT_DISTANCE_MM) -> None:
        if split != "train":
            raise ValueError(f"MuCo: only the 'train' split exists, got {split!r}")
        self.root = require_dir(root, self.name)
        self.split = split
        self.min_depth, self.max_depth = min_depth, max_depth
        self.min_root_distance = float(min_root_distance)
        self.records: list[PersonRecord] = self._load()

    def _load(self) -> list[PersonRecord]:
        data_dir = self.root / "data"
        path = data_dir / "MuCo-3DHP.json"
        db = load_coco(path, self.name)
        j, root_idx = MUCO.joint_num, MUCO.root_idx
        records = []
        for image_id, img, what, anns in db.annotated_images():
            width, height = db.image_size(image_id)
            focal = get_array(img, "f", path, what, shape=(2,))
            princpt = get_array(img, "c", path, what, shape=(2,))
            img_path = str(data_dir / get_str(img, "file_name", path, what))

            whats = [describe("annotations", i, ann) for i, ann in anns]
            joints_cam = [get_array(ann, "keypoints_cam", path, w, shape=(j, 3)) for (_, ann), w in zip(anns, whats)]
            kept = select_people(np.stack([jc[root_idx] for jc in joints_cam]), self.min_root_distance)
            for p in kept:
                (ann_index, ann), ann_what, jc = anns[p], whats[p], joints_cam[p]
                root_z = jc[root_idx, 2]
                if (self.min_depth is not None and root_z < self.min_depth) or \
                        (self.max_depth is not None and root_z > self.max_depth):
                    continue
                bbox = crop_box(get_array(ann, "bbox", path, ann_what, shape=(4,)), width, height,
                                processed=bool(ann.get("bbox_processed", False)))
                if bbox is None:
                    continue
                uv = get_array(ann, "keypoints_img", path, ann_what, shape=(j, 2))
                kp_vis = get_array(ann, "keypoints_vis", path, ann_what, shape=(j,)) \
                    if "keypoints_vis" in ann else np.ones(j)
                records.append(PersonRecord(
                    img_path=img_path, img_id=image_id, img_size=(width, height), bbox=bbox,
                    joints_img=np.concatenate([uv, jc[:, 2:]], axis=1), joints_vis=np.ones(j, dtype=np.float32),
                    joints_cam=jc, root_cam=jc[root_idx].copy(), focal=focal, princpt=princpt, has_depth=True,
                    joint_set=MUCO.name, root_vis=float(kp_vis[root_idx] > 0), score=1.0,
                    extra={"ann_id": ann.get("id", ann_index)}))
        return records
