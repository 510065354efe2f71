"""The synthetic multi-person world (posenet3d.synth): determinism, file formats, geometry, visibility, bodies."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from posenet3d.commands.synth import main as cli_main
from posenet3d.geometry import cam2pixel
from posenet3d.skeletons import COCO as COCO_SET
from posenet3d.skeletons import MUCO
from posenet3d.synth import body as B
from posenet3d.synth import generate, render_item, render_scene, sample_body, sample_camera

SEED, N_TRAIN, N_TEST, SIZE = 3, 6, 5, 160
J = {name: i for i, name in enumerate(MUCO.joints_name)}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    generate(out, N_TRAIN, N_TEST, SEED, size=SIZE, workers=0)
    return out


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_deterministic_and_worker_independent(world, tmp_path):
    again = tmp_path / "b"
    generate(again, N_TRAIN, N_TEST, SEED, size=SIZE, workers=2)
    a, b = _files(world), _files(again)
    assert sorted(a) == sorted(b)
    assert len([k for k in a if k.endswith(".jpg")]) == N_TRAIN + N_TEST
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs with the same seed"

    other = tmp_path / "c"
    generate(other, N_TRAIN, N_TEST, SEED + 1, size=SIZE)
    c = _files(other)
    assert c["train/data/MuCo-3DHP.json"] != a["train/data/MuCo-3DHP.json"]
    shared = [k for k in a if k.endswith(".jpg") and k in c]
    assert shared and all(a[k] != c[k] for k in shared)


def test_render_item_reproduces_files(world):
    muco = _load(world / "train/data/MuCo-3DHP.json")
    for index in (0, N_TRAIN - 1):
        image, camera, people, rel = render_item(SEED, "train", index, SIZE)
        img = next(i for i in muco["images"] if i["id"] == index + 1)
        assert img["file_name"] == rel
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok and buf.tobytes() == (world / "train/data" / rel).read_bytes()
        anns = [a for a in muco["annotations"] if a["image_id"] == index + 1]
        assert len(anns) == len(people)
        for a, p in zip(anns, people):
            np.testing.assert_allclose(a["keypoints_cam"], p.joints_cam, atol=1e-4)
            assert a["keypoints_vis"] == p.joints_vis.tolist()


def test_json_formats(world):
    meta = _load(world / "meta.json")
    assert meta["seed"] == SEED and meta["num_train"] == N_TRAIN and meta["num_test"] == N_TEST
    assert meta["size"] == SIZE and meta["generator_version"]
    for split, name, joints, img_keys in (
            ("train", "MuCo-3DHP.json", 21, {"id", "file_name", "width", "height", "f", "c"}),
            ("test", "MuPoTS-3D.json", 17, {"id", "file_name", "width", "height", "intrinsic"})):
        path = world / split / "data" / name
        db = COCO(str(path))
        raw = _load(path)
        assert len(db.imgs) == meta[split]["images"] == (N_TRAIN if split == "train" else N_TEST)
        assert len(db.anns) == meta[split]["people"] >= len(db.imgs)
        assert raw["categories"] == [{"id": 1, "name": "person"}]
        ann_keys = {"id", "image_id", "category_id", "iscrowd", "keypoints_cam", "keypoints_img", "keypoints_vis",
                    "bbox", "area"} | ({"is_valid"} if split == "test" else set())
        image_root = world / split / "data" / ("MultiPersonTestSet" if split == "test" else "")
        for img in raw["images"]:
            assert set(img) == img_keys
            pic = cv2.imread(str(image_root / img["file_name"]))
            assert pic is not None and pic.shape == (img["height"], img["width"], 3)
            if split == "train":
                assert re.fullmatch(r"images/\d{6}\.jpg", img["file_name"])
                assert len(img["f"]) == 2 and len(img["c"]) == 2
            else:
                assert re.fullmatch(r"TS\d+/img_\d{6}\.jpg", img["file_name"])
                assert len(img["intrinsic"]) == 4
        for ann in raw["annotations"]:
            assert set(ann) == ann_keys
            assert ann["category_id"] == 1 and ann["iscrowd"] == 0 and ann.get("is_valid", 1) == 1
            assert np.shape(ann["keypoints_cam"]) == (joints, 3)
            assert np.shape(ann["keypoints_img"]) == (joints, 2)
            assert len(ann["keypoints_vis"]) == joints and all(isinstance(v, bool) for v in ann["keypoints_vis"])
            img = db.imgs[ann["image_id"]]
            x, y, w, h = ann["bbox"]
            assert 0 <= x and 0 <= y and w > 0 and h > 0
            assert x + w <= img["width"] - 1 + 1e-6 and y + h <= img["height"] - 1 + 1e-6
            assert 0 <= ann["area"] <= img["width"] * img["height"]

    # Test sequences: frames numbered from 0 without gaps inside each TS folder, TS1..TSk.
    seqs: dict[int, list[int]] = {}
    for img in _load(world / "test/data/MuPoTS-3D.json")["images"]:
        s, f = re.fullmatch(r"TS(\d+)/img_(\d{6})\.jpg", img["file_name"]).groups()
        seqs.setdefault(int(s), []).append(int(f))
    assert sorted(seqs) == list(range(1, min(20, N_TEST) + 1))
    assert all(sorted(f) == list(range(len(f))) for f in seqs.values())

    # COCO keypoint files: same image ids and annotation ids, paths relative to the split's data folder.
    for split, main_name in (("train", "MuCo-3DHP.json"), ("test", "MuPoTS-3D.json")):
        path = world / split / "coco_person_keypoints.json"
        db = COCO(str(path))
        raw, main = _load(path), _load(world / split / "data" / main_name)
        cat = raw["categories"][0]
        assert cat["id"] == 1 and cat["name"] == "person" and len(cat["keypoints"]) == 17 and cat["skeleton"]
        assert sorted(db.imgs) == sorted(i["id"] for i in main["images"])
        assert [a["id"] for a in raw["annotations"]] == [a["id"] for a in main["annotations"]]
        for img in raw["images"]:
            assert (world / split / "data" / img["file_name"]).is_file()
        for ann in raw["annotations"]:
            assert set(ann) == {"id", "image_id", "category_id", "iscrowd", "keypoints", "num_keypoints", "bbox",
                                "area"}
            kp = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
            assert set(kp[:, 2].tolist()) <= {0.0, 1.0, 2.0}
            assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
            assert np.all(kp[kp[:, 2] == 0, :2] == 0)


def test_projection_matches_intrinsics(world):
    for split, name in (("train", "MuCo-3DHP.json"), ("test", "MuPoTS-3D.json")):
        raw = _load(world / split / "data" / name)
        imgs = {i["id"]: i for i in raw["images"]}
        for ann in raw["annotations"]:
            img = imgs[ann["image_id"]]
            f, c = (img["f"], img["c"]) if split == "train" else (img["intrinsic"][:2], img["intrinsic"][2:])
            uv = cam2pixel(np.array(ann["keypoints_cam"]), f, c)[:, :2]
            assert np.abs(uv - np.array(ann["keypoints_img"])).max() < 1e-3
            # inside the image ⇔ the flag may be set; outside joints are never visible
            kp = np.array(ann["keypoints_img"])
            inside = ((kp[:, 0] >= 0) & (kp[:, 0] <= img["width"] - 1)
                      & (kp[:, 1] >= 0) & (kp[:, 1] <= img["height"] - 1))
            assert not np.any(np.array(ann["keypoints_vis"]) & ~inside)
            if split == "train":
                hfov = 2 * math.degrees(math.atan(img["width"] / 2 / f[0]))
                assert f[0] == f[1] and 40 - 1e-6 <= hfov <= 75 + 1e-6
                assert abs(c[0] - (img["width"] - 1) / 2) <= 0.021 * img["width"]
    # COCO body keypoints are the MuCo joints of the same person.
    muco, coco = _load(world / "train/data/MuCo-3DHP.json"), _load(world / "train/coco_person_keypoints.json")
    body_idx = [MUCO.index(n) for n in COCO_SET.joints_name[5:17]]
    for a, k in zip(muco["annotations"], coco["annotations"]):
        kp = np.array(k["keypoints"], dtype=float).reshape(17, 3)[5:]
        uv = np.array(a["keypoints_img"])[body_idx]
        vis = np.array(a["keypoints_vis"])[body_idx]
        shown = kp[:, 2] > 0
        assert np.abs(kp[shown, :2] - uv[shown]).max(initial=0) < 0.01
        assert np.array_equal(kp[:, 2] == 2, vis)


def _zbuffer_ids(people, width: int, height: int) -> np.ndarray:
    """An independent z-buffer of the drawn primitives: nearest primitive per pixel wins (person id, 0 = none)."""
    depth = np.full((height, width), np.inf)
    ids = np.zeros((height, width), dtype=np.int64)
    mask = np.zeros((height, width), dtype=np.uint8)
    for person in people:
        for prim in person.primitives:
            mask[:] = 0
            cv2.fillConvexPoly(mask, np.rint(prim.outline_px * 8).astype(np.int32), 1, cv2.LINE_8, 3)
            nearer = (mask > 0) & (prim.depth_mm < depth)
            depth[nearer] = prim.depth_mm
            ids[nearer] = person.person_id
    return ids


def test_visibility_matches_rendered_occlusion():
    hidden_total = 0
    for k in range(4):
        rng = np.random.default_rng([99, k])
        camera = sample_camera(rng, 192)
        image, people = render_scene(rng, camera, num_people=6)
        assert image.shape == (camera.height, camera.width, 3) and image.dtype == np.uint8
        ids = _zbuffer_ids(people, camera.width, camera.height)
        for p in people:
            uv = p.joints_img
            inside = (uv[:, 0] >= 0) & (uv[:, 0] <= camera.width - 1) & (uv[:, 1] >= 0) & \
                     (uv[:, 1] <= camera.height - 1)
            px = np.rint(uv[inside]).astype(int)
            seen = ids[px[:, 1], px[:, 0]]
            expected = np.zeros(len(uv), dtype=bool)
            expected[inside] = (seen == p.person_id) | (seen == 0)
            np.testing.assert_array_equal(p.joints_vis, expected)
            # a visible joint's pixel shows its own person
            assert np.all(seen[p.joints_vis[inside]] == p.person_id)
            hidden_total += int((inside & ~p.joints_vis).sum())
            assert np.array_equal(p.coco_keypoints[5:, 2] == 2,
                                  p.joints_vis[[MUCO.index(n) for n in COCO_SET.joints_name[5:17]]])
    assert hidden_total > 0, "a crowded scene should hide some joints behind other people"


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


def _check_pose(j: np.ndarray) -> None:
    for a, b, c in ((J["R_Shoulder"], J["R_Elbow"], J["R_Wrist"]), (J["L_Shoulder"], J["L_Elbow"], J["L_Wrist"])):
        assert _angle(j[b] - j[a], j[c] - j[b]) <= B.LIMITS["elbow"][1] + 1e-3
    right = j[J["R_Hip"]] - j[J["L_Hip"]]
    for a, b, c in ((J["R_Hip"], J["R_Knee"], J["R_Ankle"]), (J["L_Hip"], J["L_Knee"], J["L_Ankle"])):
        thigh, shank = j[b] - j[a], j[c] - j[b]
        flex = _angle(thigh, shank)
        assert flex <= B.LIMITS["knee"][1] + 1e-3
        if flex > 10:  # knees bend backwards: the bending axis points to the person's left
            assert np.cross(thigh, shank) @ right < 0
    assert _angle(j[J["Thorax"]] - j[J["Spine"]], j[J["Head"]] - j[J["Thorax"]]) < 70
    # no wrist/hand/ankle/toe inside a torso capsule (Pelvis → Spine → Thorax, radius from the hip width)
    radius = 0.6 * np.linalg.norm(right) / 2
    for a, b in ((J["Pelvis"], J["Spine"]), (J["Spine"], J["Thorax"])):
        axis = j[b] - j[a]
        for name in ("R_Wrist", "L_Wrist", "R_Hand", "L_Hand", "R_Ankle", "L_Ankle", "R_Toe", "L_Toe"):
            t = np.clip((j[J[name]] - j[a]) @ axis / (axis @ axis), 0, 1)
            assert np.linalg.norm(j[J[name]] - (j[a] + t * axis)) > radius, f"{name} inside the torso"


def test_bodies_plausible_and_within_limits(world):
    rng = np.random.default_rng(5)
    bodies = [sample_body(rng) for _ in range(150)]
    statures = np.array([B.stature_mm(b.shape.segments_mm) for b in bodies])
    assert statures.min() >= 1400 and statures.max() <= 2000 and statures.std() > 40
    assert {b.kind for b in bodies} >= {"standing", "walking", "arm_raised", "sitting", "bent"}
    yaws = np.array([b.yaw_deg for b in bodies])
    assert yaws.min() < 60 and yaws.max() > 300
    for b in bodies:
        _check_pose(b.joints_mm)
        assert not B.torso_penetration(b.joints_mm, b.shape.height_mm).any()
        for name, value in b.angles.items():
            lo, hi = B.LIMITS[name[2:] if name[:2] in ("r_", "l_") else name]
            assert lo <= value <= hi
    # the stored ground truth: plausible, varied bone lengths and legal poses
    anns = _load(world / "train/data/MuCo-3DHP.json")["annotations"]
    joints = np.array([a["keypoints_cam"] for a in anns])
    chain = [("L_Ankle", "L_Knee"), ("L_Knee", "L_Hip"), ("Pelvis", "Spine"), ("Spine", "Thorax"),
             ("Thorax", "Head"), ("Head", "Head_top")]
    length = sum(np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=1) for a, b in chain)
    assert length.min() > 0.85 * 1400 and length.max() < 2000
    thigh = np.linalg.norm(joints[:, J["L_Knee"]] - joints[:, J["L_Hip"]], axis=1)
    shin = np.linalg.norm(joints[:, J["L_Ankle"]] - joints[:, J["L_Knee"]], axis=1)
    assert thigh.std() > 5 and np.ptp(thigh / shin) > 0.02
    for j in joints:
        _check_pose(j)


def test_scene_ranges(world):
    for split, name in (("train", "MuCo-3DHP.json"), ("test", "MuPoTS-3D.json")):
        raw = _load(world / split / "data" / name)
        roots = np.array([a["keypoints_cam"][MUCO.root_idx] for a in raw["annotations"]])
        assert roots[:, 2].min() >= 2000 and roots[:, 2].max() <= 8000
        per_image = np.bincount([a["image_id"] for a in raw["annotations"]])[1:]
        assert per_image.min() >= 1 and per_image.max() <= 6
    counts, sizes = set(), set()
    for k in range(30):
        rng = np.random.default_rng([7, k])
        camera = sample_camera(rng, 96)
        assert 0.74 <= camera.width / camera.height <= 1.34
        sizes.add((camera.width, camera.height))
        _, people = render_scene(rng, camera)
        counts.add(len(people))
        for p in people:
            assert 2000 <= p.joints_cam[MUCO.root_idx, 2] <= 8000
    assert counts <= set(range(1, 7)) and len(counts) >= 3
    assert len(sizes) >= 3


def test_cli_and_bad_input(tmp_path, capsys):
    assert cli_main(["--out", str(tmp_path / "cli"), "--num-train", "1", "--num-test", "1", "--seed", "0",
                     "--size", "96", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train"]["images"] == 1 and (tmp_path / "cli/meta.json").is_file()
    with pytest.raises(ValueError, match="num_train"):
        generate(tmp_path / "bad", -1, 0, 0)
    with pytest.raises(ValueError, match="seed"):
        generate(tmp_path / "bad", 1, 0, -5)
    with pytest.raises(SystemExit):
        cli_main(["--out", str(tmp_path / "x"), "--num-train", "1", "--num-test", "0", "--seed", "0", "--size", "8"])
