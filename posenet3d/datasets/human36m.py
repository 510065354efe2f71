"""Human3.6M in the 3DMPPE published layout → :class:`PersonRecord` (18 joints incl. Thorax).

Layout under ``root`` (e.g. ``data/Human36M``; see ``data/Human36M/README.md``)::

    images/s_{S:02d}_act_{A:02d}_subact_{SA:02d}_ca_{C:02d}/s_..._ca_{C:02d}_{frame+1:06d}.jpg
    annotations/Human36M_subject{S}_data.json      COCO-style images[] + annotations[] (bbox, keypoints_vis)
    annotations/Human36M_subject{S}_camera.json    {cam_idx: {R 3x3, t 3 (mm), f 2 (px), c 2 (px)}}
    annotations/Human36M_subject{S}_joint_3d.json  {action_idx: {subaction_idx: {frame_idx: 17x3 world mm}}}
    bbox_root/bbox_root_human36m_output.json        processed boxes + RootNet roots (PoseNet testing)
    bbox/bbox_human36m_output.json                  raw detector boxes (RootNet testing; pass ``bbox_file``)

Rules (reference §5.1): protocol 1 trains on S1,5,6,7,8,9 and tests on S11; protocol 2 trains on S1,5,6,7,8
and tests on S9,11. Training keeps every 5th frame, testing every 64th (``frame_idx % ratio == 0``). The
corrupt sequence ``s_11_act_02_subact_02_ca_01`` is skipped. Camera coordinates are
``X_cam = R @ X_world + t`` (mm); the 18th joint, Thorax, is the mean of the shoulders.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..crop import crop_box
from ..geometry import cam2pixel, world2cam
from ..skeletons import HUMAN36M, JointSet
from .base import DatasetError, PersonRecord, RecordsAdapter, require_dir
from .detections import Detection, detection_box, select_box_source
from .jsonio import describe, get_array, get_int, get_str, load_coco, load_json

#: Subjects per protocol and split.
PROTOCOL_SUBJECTS: dict[int, dict[str, tuple[int, ...]]] = {
    1: {"train": (1, 5, 6, 7, 8, 9), "test": (11,)},
    2: {"train": (1, 5, 6, 7, 8), "test": (9, 11)},
}
#: Frame sampling ratio per split (keep ``frame_idx % ratio == 0``).
SAMPLING_RATIO = {"train": 5, "test": 64}
#: The 15 actions; ``extra['action_idx']`` = file ``action_idx`` − 2 indexes this tuple.
ACTION_NAMES = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
                "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether")
#: (subject, action_idx, subaction_idx, cam_idx) of sequences skipped as corrupt.
CORRUPT_SEQUENCES = frozenset({(11, 2, 2, 1)})

_NUM_ORIGINAL_JOINTS = 17
_L_SHOULDER, _R_SHOULDER = HUMAN36M.index("L_Shoulder"), HUMAN36M.index("R_Shoulder")


def add_thorax(joints: np.ndarray) -> np.ndarray:
    """``(17, 3)`` Human3.6M joints → ``(18, 3)`` with Thorax = mean of the two shoulders appended."""
    thorax = (joints[_L_SHOULDER] + joints[_R_SHOULDER]) * 0.5
    return np.concatenate([joints, thorax[None]], axis=0)


class Human36M(RecordsAdapter):
    """Human3.6M adapter.

    Args:
        root: the dataset folder (layout in the module docstring).
        split: ``'train'`` or ``'test'``.
        protocol: 1 or 2 (subject split, see :data:`PROTOCOL_SUBJECTS`).
        use_gt_info: test only — ``True``: ground-truth box (``process_bbox`` of the annotation box) and GT
            root; ``False``: boxes from ``bbox_file`` (raw detector boxes, processed here; GT root kept) if
            given, else from ``bbox_root_file`` (default ``bbox_root/bbox_root_human36m_output.json``;
            boxes used as they are, ``root_cam`` = RootNet's root). Ignored for ``'train'``.
        sampling_ratio: overrides :data:`SAMPLING_RATIO` for the split.

    Records: ``joints_cam`` (18, 3) GT camera mm; ``joints_img`` = ``cam2pixel(joints_cam)`` (u px, v px,
    absolute Z mm); ``joints_vis`` all ones; ``root_cam`` is the root the test back-projects with (GT, or
    RootNet's for ``bbox_root`` boxes; the GT root is always ``joints_cam[0]``); ``root_vis`` is
    ``keypoints_vis[Pelvis]``. ``extra``: ``subject``, ``action_idx`` (0..14 into :data:`ACTION_NAMES`),
    ``action_name``, ``subaction_idx``, ``cam_idx``, ``frame_idx``, ``ann_id``, ``box_source``.
    """

    name = "Human36M"
    joint_set: JointSet = HUMAN36M
    has_depth = True

    def __init__(self, root: Path | str, split: str = "train", protocol: int = 2, use_gt_info: bool = True,
                 bbox_root_file: Path | str | None = None, bbox_file: Path | str | None = None,
                 sampling_ratio: int | None = None) -> None:
        if split not in SAMPLING_RATIO:
            raise ValueError(f"Human36M: split must be 'train' or 'test', got {split!r}")
        if protocol not in PROTOCOL_SUBJECTS:
            raise ValueError(f"Human36M: protocol must be 1 or 2, got {protocol!r}")
        self.root = require_dir(root, self.name)
        self.split = split
        self.protocol = protocol
        self.subjects = PROTOCOL_SUBJECTS[protocol][split]
        self.sampling_ratio = SAMPLING_RATIO[split] if sampling_ratio is None else int(sampling_ratio)
        if self.sampling_ratio < 1:
            raise ValueError(f"Human36M: sampling_ratio must be >= 1, got {sampling_ratio!r}")
        if split == "test":
            self.box_source, self.detections, self.box_file = select_box_source(
                self.name, use_gt_info, bbox_root_file, bbox_file,
                self.root / "bbox_root" / "bbox_root_human36m_output.json")
        else:
            self.box_source, self.detections, self.box_file = "gt", None, None
        self.records: list[PersonRecord] = []
        for subject in self.subjects:
            self.records.extend(self._load_subject(subject))

    def _load_subject(self, subject: int) -> list[PersonRecord]:
        ann_dir = self.root / "annotations"
        data_path = ann_dir / f"Human36M_subject{subject}_data.json"
        cam_path = ann_dir / f"Human36M_subject{subject}_camera.json"
        joint_path = ann_dir / f"Human36M_subject{subject}_joint_3d.json"
        db = load_coco(data_path, self.name)
        cameras = load_json(cam_path, self.name)
        joints_3d = load_json(joint_path, self.name)
        cam_cache: dict[int, tuple[np.ndarray, ...]] = {}
        records = []
        for image_id, img, what, anns in db.annotated_images():
            frame_idx = get_int(img, "frame_idx", data_path, what)
            if frame_idx % self.sampling_ratio != 0:
                continue
            subj = get_int(img, "subject", data_path, what)
            action = get_int(img, "action_idx", data_path, what)
            subaction = get_int(img, "subaction_idx", data_path, what)
            cam_idx = get_int(img, "cam_idx", data_path, what)
            if (subj, action, subaction, cam_idx) in CORRUPT_SEQUENCES:
                continue
            if not 2 <= action <= 16:
                raise DatasetError(f"{data_path}: {what} field 'action_idx' is {action}, expected 2..16")
            width = get_int(img, "width", data_path, what)
            height = get_int(img, "height", data_path, what)
            img_path = str(self.root / "images" / get_str(img, "file_name", data_path, what))

            if cam_idx not in cam_cache:
                cam_cache[cam_idx] = _camera(cameras, cam_idx, cam_path, f"{what} of {data_path}")
            R, t, focal, princpt = cam_cache[cam_idx]
            joints_world = _lookup(joints_3d, (str(action), str(subaction), str(frame_idx)), joint_path,
                                   f"{what} of {data_path}")
            joints_cam = world2cam(add_thorax(joints_world), R, t)
            joints_img = cam2pixel(joints_cam, focal, princpt)

            for ann_index, ann in anns:
                ann_what = describe("annotations", ann_index, ann)
                if self.box_source == "gt":
                    bbox = crop_box(get_array(ann, "bbox", data_path, ann_what, shape=(4,)), width, height)
                    root_cam, score = joints_cam[HUMAN36M.root_idx].copy(), 1.0
                else:
                    det = self._detection(image_id, what, data_path)
                    bbox = detection_box(det, width, height)
                    root_cam = det.root_cam.copy() if det.root_cam is not None \
                        else joints_cam[HUMAN36M.root_idx].copy()
                    score = det.score
                if bbox is None:
                    continue
                kp_vis = get_array(ann, "keypoints_vis", data_path, ann_what, shape=(_NUM_ORIGINAL_JOINTS,)) \
                    if "keypoints_vis" in ann else np.ones(_NUM_ORIGINAL_JOINTS)
                records.append(PersonRecord(
                    img_path=img_path, img_id=image_id, img_size=(width, height), bbox=bbox,
                    joints_img=joints_img.copy(), joints_vis=np.ones(HUMAN36M.joint_num, dtype=np.float32),
                    joints_cam=joints_cam.copy(), root_cam=root_cam, focal=focal.copy(), princpt=princpt.copy(),
                    has_depth=True, joint_set=HUMAN36M.name, root_vis=float(kp_vis[HUMAN36M.root_idx] > 0),
                    score=score,
                    extra={"subject": subj, "action_idx": action - 2, "action_name": ACTION_NAMES[action - 2],
                           "subaction_idx": subaction, "cam_idx": cam_idx, "frame_idx": frame_idx,
                           "ann_id": ann.get("id", ann_index), "box_source": self.box_source}))
        return records

    def _detection(self, image_id: int, what: str, data_path: Path) -> Detection:
        dets = self.detections.get(image_id) if self.detections is not None else None
        if not dets:
            raise DatasetError(f"{self.box_file}: no entry for image_id {image_id} "
                               f"({what} of {data_path}); it must cover every test image of protocol "
                               f"{self.protocol} (the files are per protocol)")
        return max(dets, key=lambda d: d.score)  # one person per image; ties keep the first written


def _camera(cameras: Any, cam_idx: int, cam_path: Path, referrer: str) -> tuple[np.ndarray, ...]:
    """``(R (3,3), t (3,) mm, f (2,) px, c (2,) px)`` of one camera of a ``*_camera.json`` file."""
    if not isinstance(cameras, dict) or str(cam_idx) not in cameras:
        raise DatasetError(f"{cam_path}: no camera {str(cam_idx)!r} (needed by {referrer})")
    cam = cameras[str(cam_idx)]
    what = f"camera {str(cam_idx)!r}"
    return (get_array(cam, "R", cam_path, what, shape=(3, 3)), get_array(cam, "t", cam_path, what, shape=(3,)),
            get_array(cam, "f", cam_path, what, shape=(2,)), get_array(cam, "c", cam_path, what, shape=(2,)))


def _lookup(tree: Any, keys: tuple[str, str, str], path: Path, referrer: str) -> np.ndarray:
    """``tree[action][subaction][frame]`` of a ``*_joint_3d.json`` file as a (17, 3) world-mm array."""
    node = tree
    for depth, (level, key) in enumerate(zip(("action_idx", "subaction_idx"), keys[:2])):
        if not isinstance(node, dict) or key not in node:
            parent = f"action_idx {keys[0]!r}" if depth else "the top level"
            raise DatasetError(f"{path}: {parent} has no {level} {key!r} (needed by {referrer})")
        node = node[key]
    what = f"action_idx {keys[0]!r} / subaction_idx {keys[1]!r}"
    if not isinstance(node, dict) or keys[2] not in node:
        raise DatasetError(f"{path}: {what} has no frame_idx {keys[2]!r} (needed by {referrer})")
    return get_array(node, keys[2], path, what, shape=(_NUM_ORIGINAL_JOINTS, 3))
