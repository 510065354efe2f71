"""Dataset adapters on tiny fixtures written in the exact published layouts (no image pixels are read)."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from posenet3d.datasets.base import DatasetError
from posenet3d.datasets.coco import MSCOCO, add_thorax_pelvis
from posenet3d.datasets.detections import (
    detection_box,
    in_file_order,
    read_bbox_file,
    read_bbox_root_file,
)
from posenet3d.datasets.human36m import Human36M
from posenet3d.datasets.mpii import MPII
from posenet3d.datasets.muco import MuCo, select_people
from posenet3d.datasets.mupots import MuPoTS, parse_file_name
from posenet3d.datasets.registry import build_dataset, dataset_names, default_root
from posenet3d.geometry import bbox_from_joints, cam2pixel, process_bbox
from posenet3d.skeletons import COCO, HUMAN36M, MUCO, MUPOTS
from posenet3d.skeletons import MPII as MPII_SET


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def person_offsets(num_joints: int, seed: int) -> np.ndarray:
    """A plausible person: joints spread ~±800 mm vertically, ±250 mm sideways and in depth."""
    rng = np.random.default_rng(seed)
    off = rng.uniform(-1, 1, size=(num_joints, 3)) * np.array([250.0, 800.0, 150.0])
    return off


# ----------------------------------------------------------------------------------------------------------
# Human3.6M
# ----------------------------------------------------------------------------------------------------------

H36M_SIZE = (1000, 1002)
H36M_SEQS = ((2, 2, 1), (3, 1, 2))  # (action_idx, subaction_idx, cam_idx); (2, 2, 1) is corrupt for S11 only
H36M_FRAMES = 70                     # frames 0..69: 14 kept at ratio 5, 2 kept (0, 64) at ratio 64


def rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


H36M_CAMS = {
    "1": {"R": rot_y(20.0) @ np.diag([1.0, -1.0, -1.0]) @ np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]]),
          "t": [-346.05, 546.98, 5474.48], "f": [1145.05, 1143.78], "c": [512.54, 515.45]},
    "2": {"R": rot_y(-35.0) @ np.diag([1.0, -1.0, -1.0]) @ np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]]),
          "t": [251.42, 420.93, 5588.12], "f": [1149.68, 1147.59], "c": [508.85, 508.06]},
}


def h36m_world_joints(subject: int, action: int, subaction: int, frame: int) -> np.ndarray:
    """17 world-frame joints (mm, z up as in H36M): a person near the world origin, moving with the frame."""
    base = person_offsets(17, seed=subject * 1000 + action * 10 + subaction)[:, [0, 2, 1]]
    base[:, 2] += 900.0
    return base + np.array([frame * 3.0, -frame * 2.0, 0.0])


def write_h36m(root: Path, subjects=(1, 5, 6, 7, 8, 9, 11)) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    ann_dir = root / "annotations"
    image_id = 0
    for s in subjects:
        images, anns, joints = [], [], {}
        for action, subaction, cam in H36M_SEQS:
            cam_p = H36M_CAMS[str(cam)]
            seq = f"s_{s:02d}_act_{action:02d}_subact_{subaction:02d}_ca_{cam:02d}"
            for frame in range(H36M_FRAMES):
                world = h36m_world_joints(s, action, subaction, frame)
                joints.setdefault(str(action), {}).setdefault(str(subaction), {})[str(frame)] = world.tolist()
                cam_xyz = world @ np.asarray(cam_p["R"]).T + np.asarray(cam_p["t"])
                uv = cam2pixel(cam_xyz, cam_p["f"], cam_p["c"])[:, :2]
                images.append({"id": image_id, "file_name": f"{seq}/{seq}_{frame + 1:06d}.jpg",
                               "width": H36M_SIZE[0], "height": H36M_SIZE[1], "subject": s,
                               "action_name": "x", "action_idx": action, "subaction_idx": subaction,
                               "cam_idx": cam, "frame_idx": frame})
                anns.append({"id": image_id, "image_id": image_id, "keypoints_vis": [True] * 17,
                             "bbox": bbox_from_joints(uv).tolist()})
                image_id += 1
        write_json(ann_dir / f"Human36M_subject{s}_data.json", {"images": images, "annotations": anns})
        write_json(ann_dir / f"Human36M_subject{s}_camera.json",
                   {k: {kk: np.asarray(vv).tolist() for kk, vv in v.items()} for k, v in H36M_CAMS.items()})
        write_json(ann_dir / f"Human36M_subject{s}_joint_3d.json", joints)
    return root


@pytest.fixture(scope="module")
def h36m_root(tmp_path_factory) -> Path:
    return write_h36m(tmp_path_factory.mktemp("h36m") / "Human36M")


@pytest.mark.parametrize("protocol,split,subjects,count", [
    (1, "train", {1, 5, 6, 7, 8, 9}, 6 * 2 * 14),
    (1, "test", {11}, 2),          # S11's sequence (2, 2, 1) is skipped: only (3, 1, 2) frames 0 and 64
    (2, "train", {1, 5, 6, 7, 8}, 5 * 2 * 14),
    (2, "test", {9, 11}, 2 * 2 + 2),
])
def test_h36m_protocol_sampling_and_corrupt_sequence(h36m_root, protocol, split, subjects, count):
    ds = Human36M(h36m_root, split, protocol=protocol)
    assert len(ds.records) == count
    assert {r.extra["subject"] for r in ds.records} == subjects
    ratio = 5 if split == "train" else 64
    assert all(r.extra["frame_idx"] % ratio == 0 for r in ds.records)
    corrupt = [r for r in ds.records if (r.extra["subject"], r.extra["action_idx"] + 2, r.extra["subaction_idx"],
                                         r.extra["cam_idx"]) == (11, 2, 2, 1)]
    assert corrupt == []
    if split == "train":  # the same sequence of another subject is kept
        assert any((r.extra["action_idx"], r.extra["subaction_idx"], r.extra["cam_idx"]) == (0, 2, 1)
                   for r in ds.records)


def test_h36m_record_geometry(h36m_root):
    ds = Human36M(h36m_root, "test", protocol=2)
    rec = next(r for r in ds.records if r.extra["subject"] == 9 and r.extra["frame_idx"] == 64
               and r.extra["cam_idx"] == 2)
    cam = H36M_CAMS["2"]
    R, t = np.asarray(cam["R"]), np.asarray(cam["t"])
    world = h36m_world_joints(9, 3, 1, 64)
    expected = np.array([R @ p + t for p in world])           # X_cam = R·X_world + t
    assert np.allclose(rec.joints_cam[:17], expected, atol=1e-6)
    assert not np.allclose(rec.joints_cam[:17], (world - t) @ R.T, atol=1.0)  # X_cam = R·X + t, not R·(X − t)
    thorax = (expected[HUMAN36M.index("L_Shoulder")] + expected[HUMAN36M.index("R_Shoulder")]) / 2
    assert rec.joints_cam.shape == (18, 3) and np.allclose(rec.joints_cam[17], thorax)
    assert np.allclose(rec.joints_img, cam2pixel(rec.joints_cam, cam["f"], cam["c"]))
    assert np.allclose(rec.joints_img[:, 2], rec.joints_cam[:, 2])   # absolute Z, not root-relative
    assert np.allclose(rec.root_cam, rec.joints_cam[0])
    assert np.allclose(rec.focal, cam["f"]) and np.allclose(rec.princpt, cam["c"])
    uv = cam2pixel(expected, cam["f"], cam["c"])[:, :2]
    assert np.allclose(rec.bbox, process_bbox(bbox_from_joints(uv), *H36M_SIZE))
    assert rec.bbox[2] == pytest.approx(rec.bbox[3])
    assert rec.img_path == str(h36m_root / "images" / "s_09_act_03_subact_01_ca_02"
                               / "s_09_act_03_subact_01_ca_02_000065.jpg")
    assert rec.extra["action_idx"] == 1 and rec.extra["action_name"] == "Discussion"
    assert rec.joint_set == "Human36M" and rec.has_depth and np.all(rec.joints_vis == 1)
    assert ds.joint_set is HUMAN36M


def test_h36m_detection_boxes(h36m_root, tmp_path):
    gt = Human36M(h36m_root, "test", protocol=1)
    entries = [{"image_id": r.img_id, "bbox": [10.0 + i, 20.0, 300.0, 300.0], "root_cam": [1.0, 2.0, 4000.0 + i]}
               for i, r in enumerate(gt.records)]
    write_json(h36m_root / "bbox_root" / "bbox_root_human36m_output.json", entries)
    det = Human36M(h36m_root, "test", protocol=1, use_gt_info=False)
    assert len(det.records) == len(gt.records)
    for i, (d, g) in enumerate(zip(det.records, gt.records)):
        assert np.array_equal(d.bbox, entries[i]["bbox"])              # published boxes are not re-processed
        assert np.array_equal(d.root_cam, entries[i]["root_cam"])
        assert np.allclose(d.joints_cam, g.joints_cam)                  # GT joints kept for evaluation
        assert d.extra["box_source"] == "bbox_root"
    raw = [{"image_id": r.img_id, "bbox": [100.0, 50.0, 200.0, 400.0]} for r in gt.records]
    raw_path = write_json(tmp_path / "bbox_human36m_output.json", raw)
    rn = Human36M(h36m_root, "test", protocol=1, use_gt_info=False, bbox_file=raw_path)
    assert np.allclose(rn.records[0].bbox, process_bbox([100.0, 50.0, 200.0, 400.0], *H36M_SIZE))
    assert np.allclose(rn.records[0].root_cam, gt.records[0].joints_cam[0])
    write_json(raw_path, raw[:1])
    missing = rf"bbox_human36m_output\.json: no entry for image_id {gt.records[1].img_id}"
    with pytest.raises(DatasetError, match=missing):
        Human36M(h36m_root, "test", protocol=1, use_gt_info=False, bbox_file=raw_path)


def test_h36m_missing_subject_file(tmp_path):
    root = write_h36m(tmp_path / "Human36M", subjects=(9,))
    with pytest.raises(DatasetError, match=r"Human36M_subject11_data\.json does not exist.*README"):
        Human36M(root, "test", protocol=2)


# ----------------------------------------------------------------------------------------------------------
# MuCo-3DHP
# ----------------------------------------------------------------------------------------------------------

MUCO_F, MUCO_C, MUCO_SIZE = [1497.7, 1497.8], [1024.0, 1024.0], (2048, 2048)


def muco_ann(ann_id: int, image_id: int, root_xyz, seed: int) -> dict:
    joints = person_offsets(21, seed) + np.asarray(root_xyz, dtype=float)
    joints[MUCO.root_idx] = root_xyz
    uv = cam2pixel(joints, MUCO_F, MUCO_C)[:, :2]
    return {"id": ann_id, "image_id": image_id, "keypoints_cam": joints.tolist(), "keypoints_img": uv.tolist(),
            "keypoints_vis": [1] * 21, "bbox": bbox_from_joints(uv).tolist()}


# Image 0: A is closest (kept); B is far from everyone (kept); C is 300 mm from A in xy but 3 m away in 3D
# (dropped by the xy test alone); D and E are 141 mm apart in xy and 245 mm in 3D (both dropped by both tests;
# a 3D distance below 500 mm always implies an xy distance below 500 mm). With an "already kept" reading D
# would be kept; the reference compares with every other person, so D goes too.
MUCO_IMG0 = {"C": (300.0, 0.0, 6000.0), "A": (0.0, 0.0, 3000.0), "B": (-2000.0, 0.0, 4000.0),
             "D": (2000.0, 0.0, 5000.0), "E": (2100.0, 100.0, 5200.0)}
# Image 1: the closest person is at Z 1200 and one at Z 8000 — outside RootNet's [1500, 7500] mm range.
MUCO_IMG1 = {"near": (0.0, 0.0, 1200.0), "mid": (-1500.0, 0.0, 4000.0), "far": (1500.0, 0.0, 8000.0)}


def write_muco(root: Path) -> Path:
    images, anns = [], []
    for image_id, people in enumerate((MUCO_IMG0, MUCO_IMG1)):
        images.append({"id": image_id, "file_name": f"augmented_set/{image_id:06d}.jpg", "width": MUCO_SIZE[0],
                       "height": MUCO_SIZE[1], "f": MUCO_F, "c": MUCO_C})
        for xyz in people.values():
            anns.append(muco_ann(len(anns), image_id, xyz, seed=len(anns)))
    write_json(root / "data" / "MuCo-3DHP.json", {"images": images, "annotations": anns})
    return root


def test_select_people_rule():
    roots = np.array(list(MUCO_IMG0.values()))
    assert select_people(roots) == [1, 2]            # A (closest, file index 1) first, then B
    assert select_people(roots, min_distance_mm=100.0) == [1, 0, 2, 3, 4]
    assert select_people(np.zeros((0, 3))) == []


@pytest.mark.parametrize("layout", ["MuCo", "Synthetic/train"])
def test_muco_selection_and_depth_filter(tmp_path, layout):
    root = write_muco(tmp_path / layout)
    ds = MuCo(root, "train")
    roots0 = [tuple(r.root_cam) for r in ds.records if r.img_id == 0]
    assert roots0 == [MUCO_IMG0["A"], MUCO_IMG0["B"]]
    assert len(ds.records) == 2 + 3
    rn = MuCo(root, "train", min_depth=1500, max_depth=7500)
    assert [tuple(r.root_cam) for r in rn.records] == [MUCO_IMG0["A"], MUCO_IMG0["B"], MUCO_IMG1["mid"]]
    rec = ds.records[0]
    assert rec.img_path == str(root / "data" / "augmented_set" / "000000.jpg")
    assert np.allclose(rec.joints_img[:, :2], cam2pixel(rec.joints_cam, rec.focal, rec.princpt)[:, :2])
    assert np.allclose(rec.joints_img[:, 2], rec.joints_cam[:, 2])
    assert np.allclose(rec.focal, MUCO_F) and np.allclose(rec.princpt, MUCO_C)
    uv = cam2pixel(rec.joints_cam, MUCO_F, MUCO_C)[:, :2]
    assert np.allclose(rec.bbox, process_bbox(bbox_from_joints(uv), *MUCO_SIZE))
    assert rec.joint_set == "MuCo" and ds.joint_set is MUCO and ds.has_depth


# ----------------------------------------------------------------------------------------------------------
# MuPoTS-3D
# ----------------------------------------------------------------------------------------------------------

MUPOTS_INTR = [1493.0, 1505.5, 1024.2, 1030.7]


def mupots_ann(ann_id, image_id, root_xyz, is_valid, seed) -> dict:
    joints = person_offsets(17, seed) + np.asarray(root_xyz, dtype=float)
    joints[MUPOTS.root_idx] = root_xyz
    uv = cam2pixel(joints, MUPOTS_INTR[:2], MUPOTS_INTR[2:])[:, :2]
    return {"id": ann_id, "image_id": image_id, "keypoints_cam": joints.tolist(), "keypoints_img": uv.tolist(),
            "keypoints_vis": [1] * 17, "bbox": bbox_from_joints(uv).tolist(), "is_valid": is_valid}


def write_mupots(root: Path) -> Path:
    images = [{"id": 5, "file_name": "TS3/img_000012.jpg", "width": 2048, "height": 2048, "intrinsic": MUPOTS_INTR},
              {"id": 9, "file_name": "TS20/img_000000.jpg", "width": 1920, "height": 1080,
               "intrinsic": MUPOTS_INTR}]
    anns = [mupots_ann(0, 5, (0, 0, 4000), 1, 0), mupots_ann(1, 5, (900, 0, 5000), 0, 1),
            mupots_ann(2, 5, (-900, 0, 4500), 1, 2), mupots_ann(3, 9, (0, 100, 3500), 1, 3)]
    write_json(root / "data" / "MuPoTS-3D.json", {"images": images, "annotations": anns})
    (root / "data" / "MultiPersonTestSet").mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize("layout", ["MuPoTS", "Synthetic/test"])
def test_mupots_gt_mode(tmp_path, layout):
    root = write_mupots(tmp_path / layout)
    ds = MuPoTS(root, "test")
    assert [r.extra["ann_id"] for r in ds.records] == [0, 2, 3]      # is_valid == 0 dropped
    rec = ds.records[0]
    assert rec.extra["seq"] == 3 and rec.extra["frame"] == 12 and rec.extra["mat_key"] == "TS3_img_000012"
    assert rec.img_path == str(root / "data" / "MultiPersonTestSet" / "TS3" / "img_000012.jpg")
    assert np.allclose(rec.focal, MUPOTS_INTR[:2]) and np.allclose(rec.princpt, MUPOTS_INTR[2:])
    assert np.allclose(rec.joints_img, cam2pixel(rec.joints_cam, rec.focal, rec.princpt))
    assert np.allclose(rec.root_cam, (0, 0, 4000))
    assert rec.joints_cam.shape == (17, 3) and ds.joint_set is MUPOTS and rec.joint_set == "MuPoTS"
    assert ds.records[2].extra["mat_key"] == "TS20_img_000000"
    assert parse_file_name("TS7/img_000123.jpg") == (7, 123) and parse_file_name("x.jpg") is None


def test_mupots_detection_modes(tmp_path):
    root = write_mupots(tmp_path / "MuPoTS")
    entries = [{"image_id": 9, "bbox": [5.0, 6.0, 500.0, 500.0], "root_cam": [10.0, 20.0, 3600.0], "score": 0.9},
               {"image_id": 5, "bbox": [100.0, 80.0, 700.0, 700.0], "root_cam": [0.0, 5.0, 4100.0], "score": 0.8},
               {"image_id": 5, "bbox": [900.0, 80.0, 600.0, 600.0], "root_cam": [-900.0, 5.0, 4400.0],
                "score": 0.4}]
    write_json(root / "bbox_root" / "bbox_root_mupots_output.json", entries)
    ds = MuPoTS(root, "test", use_gt_info=False)
    assert [r.img_id for r in ds.records] == [9, 5, 5]                 # file order
    for r, e in zip(ds.records, entries):
        assert np.array_equal(r.bbox, e["bbox"]) and np.array_equal(r.root_cam, e["root_cam"])
        assert r.score == e["score"] and r.joints_cam is None and not r.joints_vis.any()
    assert ds.records[0].extra["mat_key"] == "TS20_img_000000"
    raw = [{"image_id": 5, "bbox": [100.0, 80.0, 300.0, 600.0], "score": 0.7}]
    rn = MuPoTS(root, "test", use_gt_info=False, bbox_file=write_json(root / "bbox" / "bbox_mupots_output.json", raw))
    assert len(rn.records) == 1 and rn.records[0].root_cam is None and rn.records[0].score == 0.7
    assert np.allclose(rn.records[0].bbox, process_bbox(raw[0]["bbox"], 2048, 2048))
    write_json(root / "bbox_root" / "bbox_root_mupots_output.json", [{**entries[0], "image_id": 77}])
    with pytest.raises(DatasetError, match=r"no image with id 77 \(referenced by entry\[0\] of .*bbox_root_mupots"):
        MuPoTS(root, "test", use_gt_info=False)


# ----------------------------------------------------------------------------------------------------------
# MSCOCO
# ----------------------------------------------------------------------------------------------------------

def coco_kps(seed: int, flags=None) -> list[float]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(50, 400, size=(17, 2))
    v = np.full(17, 2.0) if flags is None else np.asarray(flags, dtype=float)
    return np.concatenate([xy, v[:, None]], axis=1).ravel().tolist()


def write_coco(root: Path) -> Path:
    flags_partial = [2.0] * 17
    flags_partial[COCO.index("L_Shoulder")] = 0.0   # Thorax vis = 0 · 2 = 0
    flags_partial[COCO.index("L_Hip")] = 1.0        # Pelvis vis = 1 · 2 = 2 > 0
    flags_partial[COCO.index("L_Ankle")] = 0.0
    images = [{"id": 139, "file_name": "000000000139.jpg", "width": 640, "height": 426},
              {"id": 785, "file_name": "000000000785.jpg", "width": 640, "height": 425}]
    anns = [
        {"id": 1, "image_id": 139, "iscrowd": 0, "num_keypoints": 17, "keypoints": coco_kps(0),
         "bbox": [40.0, 50.0, 120.0, 300.0], "category_id": 1},
        {"id": 2, "image_id": 139, "iscrowd": 1, "num_keypoints": 17, "keypoints": coco_kps(1),
         "bbox": [10.0, 10.0, 100.0, 100.0], "category_id": 1},
        {"id": 3, "image_id": 785, "iscrowd": 0, "num_keypoints": 0, "keypoints": [0.0] * 51,
         "bbox": [300.0, 20.0, 40.0, 60.0], "category_id": 1},
        {"id": 4, "image_id": 785, "iscrowd": 0, "num_keypoints": 15, "keypoints": coco_kps(2, flags_partial),
         "bbox": [200.0, 30.0, 150.0, 380.0], "category_id": 1},
        {"id": 5, "image_id": 785, "iscrowd": 0, "num_keypoints": 3, "keypoints": coco_kps(3),
         "bbox": [700.0, 30.0, 10.0, 10.0], "category_id": 1},     # entirely outside the image → no box
    ]
    for split in ("train2017", "val2017"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        write_json(root / "annotations" / f"person_keypoints_{split}.json", {"images": images, "annotations": anns})
    return root


def test_coco_filters_and_derived_joints(tmp_path):
    root = write_coco(tmp_path / "MSCOCO")
    ds = MSCOCO(root, "train")
    assert [r.extra["ann_id"] for r in ds.records] == [1, 4]
    full, part = ds.records
    assert full.joints_img.shape == (19, 3) and np.all(full.joints_vis == 1) and np.all(full.joints_img[:, 2] == 0)
    kp = np.asarray(coco_kps(2)).reshape(17, 3)
    ls, rs, lh, rh = (COCO.index(n) for n in ("L_Shoulder", "R_Shoulder", "L_Hip", "R_Hip"))
    assert np.allclose(part.joints_img[COCO.index("Thorax"), :2], (kp[ls, :2] + kp[rs, :2]) / 2)
    assert np.allclose(part.joints_img[COCO.index("Pelvis"), :2], (kp[lh, :2] + kp[rh, :2]) / 2)
    assert part.joints_vis[COCO.index("Thorax")] == 0 and part.joints_vis[COCO.index("Pelvis")] == 1
    assert part.joints_vis[COCO.index("L_Ankle")] == 0 and part.joints_vis[COCO.index("L_Hip")] == 1
    assert part.root_vis == 1.0
    assert np.allclose(part.focal, (1500, 1500)) and np.allclose(part.princpt, (320.0, 212.5))
    assert np.allclose(part.bbox, process_bbox([200.0, 30.0, 150.0, 380.0], 640, 425))
    assert part.joints_cam is None and not part.has_depth and not ds.has_depth and ds.joint_set is COCO
    assert part.img_path == str(root / "images" / "train2017" / "000000000785.jpg")
    flags = np.zeros((17, 3))
    flags[:, 2] = 2
    flags[rh, 2] = 0
    assert add_thorax_pelvis(flags)[18, 2] == 0 and add_thorax_pelvis(flags)[17, 2] == 4


def test_coco_test_split(tmp_path):
    root = write_coco(tmp_path / "MSCOCO")
    gt = MSCOCO(root, "test")
    assert len(gt.records) == 2 and gt.records[0].img_path.endswith("val2017/000000000139.jpg")
    entries = [{"image_id": 785, "bbox": [190.0, 20.0, 400.0, 400.0], "root_cam": [3.0, 4.0, 9000.0]}]
    write_json(root / "bbox_root" / "bbox_root_coco_output.json", entries)
    det = MSCOCO(root, "test", use_gt_info=False)
    assert len(det.records) == 1 and np.array_equal(det.records[0].bbox, entries[0]["bbox"])
    assert np.array_equal(det.records[0].root_cam, entries[0]["root_cam"])
    assert det.records[0].extra["mat_key"] == "coco_000000000785"


# ----------------------------------------------------------------------------------------------------------
# MPII
# ----------------------------------------------------------------------------------------------------------

def test_mpii(tmp_path):
    root = tmp_path / "MPII"
    (root / "images").mkdir(parents=True)
    flags = [1.0] * 16
    flags[MPII_SET.index("Head")] = 0.0
    kps = np.concatenate([np.random.default_rng(0).uniform(100, 600, (16, 2)), np.array(flags)[:, None]], 1)
    images = [{"id": 1, "file_name": "015601864.jpg", "width": 1280, "height": 720},
              {"id": 2, "file_name": "images/000001163.jpg", "width": 1280, "height": 720}]
    anns = [{"id": 10, "image_id": 1, "num_keypoints": 15, "keypoints": kps.ravel().tolist(), "iscrowd": 0,
             "bbox": [100.0, 100.0, 300.0, 500.0]},
            {"id": 11, "image_id": 2, "num_keypoints": 0, "keypoints": [0.0] * 48, "iscrowd": 0,
             "bbox": [100.0, 100.0, 300.0, 500.0]},
            {"id": 12, "image_id": 2, "num_keypoints": 15, "keypoints": kps.ravel().tolist(), "iscrowd": 0,
             "bbox": [500.0, 100.0, 200.0, 400.0]}]
    write_json(root / "annotations" / "train.json", {"images": images, "annotations": anns})
    ds = MPII(root, "train")
    assert [r.extra["ann_id"] for r in ds.records] == [10, 12]
    a, b = ds.records
    assert a.img_path == str(root / "images" / "015601864.jpg")
    assert b.img_path == str(root / "images" / "000001163.jpg")
    assert a.joints_img.shape == (16, 3) and np.allclose(a.joints_img[:, :2], kps[:, :2])
    assert np.array_equal(a.joints_vis, np.array(flags, dtype=np.float32)) and a.root_vis == 1.0
    assert np.allclose(a.bbox, process_bbox([100.0, 100.0, 300.0, 500.0], 1280, 720))
    assert ds.joint_set is MPII_SET and not ds.has_depth
    with pytest.raises(ValueError, match="only the 'train' split"):
        MPII(root, "test")


# ----------------------------------------------------------------------------------------------------------
# Box files
# ----------------------------------------------------------------------------------------------------------

def test_box_file_readers(tmp_path):
    p = write_json(tmp_path / "bbox_root_x_output.json", [
        {"image_id": 3, "bbox": [1, 2, 30, 30], "root_cam": [0, 0, 5000]},
        {"image_id": 1, "bbox": [4, 5, 40, 40], "root_cam": [1, 1, 6000], "score": 0.25},
        {"image_id": 3, "bbox": [7, 8, 50, 50], "root_cam": [2, 2, 7000]}])
    by_image = read_bbox_root_file(p)
    assert sorted(by_image) == [1, 3] and len(by_image[3]) == 2
    assert [d.index for d in in_file_order(by_image)] == [0, 1, 2]
    d = by_image[1][0]
    assert d.processed and d.score == 0.25 and np.array_equal(d.root_cam, [1, 1, 6000])
    assert by_image[3][0].score == 1.0
    assert np.array_equal(detection_box(d, 10, 10), [4, 5, 40, 40])           # never re-processed
    raw = read_bbox_file(write_json(tmp_path / "bbox_x_output.json",
                                    [{"image_id": 1, "bbox": [10, 20, 30, 60], "score": 0.5}]))
    r = raw[1][0]
    assert not r.processed and r.root_cam is None
    assert np.allclose(detection_box(r, 640, 480), process_bbox([10, 20, 30, 60], 640, 480))
    bad = write_json(tmp_path / "bad.json", [{"image_id": 1, "bbox": [1, 2, 3, 4], "root_cam": [1, 2, 3]},
                                            {"image_id": 2, "bbox": [1, 2, 3, 4]}])
    with pytest.raises(DatasetError, match=r"bad\.json: entry\[1\] \(image_id 2\) has no field 'root_cam'"):
        read_bbox_root_file(bad)
    bad2 = write_json(tmp_path / "bad2.json", [{"image_id": 1, "bbox": [1, 2, 3]}])
    shape_msg = r"bad2\.json: entry\[0\] \(image_id 1\) field 'bbox' has shape 3, expected 4"
    with pytest.raises(DatasetError, match=shape_msg):
        read_bbox_file(bad2)


# ----------------------------------------------------------------------------------------------------------
# Bad input and the registry
# ----------------------------------------------------------------------------------------------------------

def test_missing_folder_message(tmp_path):
    missing = tmp_path / "nowhere" / "MuCo"
    with pytest.raises(DatasetError) as e:
        MuCo(missing, "train")
    assert str(missing) in str(e.value) and "'Data' section" in str(e.value) and "data/MuCo/README.md" in str(e.value)


def test_malformed_json_message(tmp_path):
    root = tmp_path / "MuPoTS"
    (root / "data").mkdir(parents=True)
    path = root / "data" / "MuPoTS-3D.json"
    path.write_text('{"images": [{"id": 1,\n "file_name": "TS1/img_000000.jpg",,}]}')
    with pytest.raises(DatasetError, match=rf"{re.escape(str(path))}: malformed JSON at line 2, column 36 \(char 57\)"):
        MuPoTS(root, "test")


def test_missing_field_message(tmp_path):
    root = write_mupots(tmp_path / "MuPoTS")
    path = root / "data" / "MuPoTS-3D.json"
    data = json.loads(path.read_text())
    del data["annotations"][2]["keypoints_cam"]
    write_json(path, data)
    field_msg = rf"{re.escape(str(path))}: annotations\[2\] \(id 2, image_id 5\) has no field 'keypoints_cam'"
    with pytest.raises(DatasetError, match=field_msg):
        MuPoTS(root, "test")
    del data["images"][1]["intrinsic"]
    data["annotations"][2]["keypoints_cam"] = [[0, 0, 1]] * 17
    write_json(path, data)
    with pytest.raises(DatasetError, match=r"images\[1\] \(id 9\) has no field 'intrinsic'"):
        MuPoTS(root, "test")


def test_registry(tmp_path):
    assert set(dataset_names()) == {"Human36M", "MuCo", "MuPoTS", "MSCOCO", "MPII"}
    assert default_root("MSCOCO", tmp_path) == tmp_path / "MSCOCO"
    write_muco(tmp_path / "MuCo")
    ds = build_dataset("MuCo", "train", data_dir=tmp_path, min_depth=1500, max_depth=7500)
    assert isinstance(ds, MuCo) and len(ds.records) == 3
    ds2 = build_dataset("posenet3d.datasets.muco:MuCo", "train", root=tmp_path / "MuCo")
    assert len(ds2.records) == 5
    with pytest.raises(KeyError, match="unknown dataset 'Nope'"):
        build_dataset("Nope", "train")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['protocol'\]"):
        build_dataset("MuCo", "train", data_dir=tmp_path, protocol=1)
    with pytest.raises(ValueError, match="has no split 'test'"):
        build_dataset("MuCo", "test", data_dir=tmp_path)
