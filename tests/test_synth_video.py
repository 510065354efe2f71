"""The synthetic video world (posenet3d.synth.video*): determinism, motion, limits, ids, occlusion, files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet3d.commands.synth import main as cli_main
from posenet3d.datasets.mupots import MuPoTS
from posenet3d.geometry import cam2pixel
from posenet3d.skeletons import MUPOTS
from posenet3d.synth import body as B
from posenet3d.synth.video import generate_video
from posenet3d.synth.video_plan import plan_clip
from posenet3d.synth.video_render import OCCLUDED_MIN_JOINTS, frame_homography

SEED, CLIPS, FRAMES, FPS, SIZE = 4, 2, 40, 25.0, 96
ROOT = MUPOTS.root_idx
#: Bound on the pelvis's 3D acceleration (m/s²): turns and speed changes are ≤ 1.2 m/s² each by design, the
#: rest is the gait's vertical bob.
MAX_ACCEL = 5.0


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video") / "a"
    generate_video(out, CLIPS, frames_per_clip=FRAMES, fps=FPS, seed=SEED, size=SIZE, workers=0)
    return out


@pytest.fixture(scope="module")
def long_plan():
    """A default-length clip's plan (no pixels): 150 frames at 25 fps."""
    return plan_clip(SEED, 3, 150, FPS, 512)


def _clips(world: Path) -> list[Path]:
    return sorted((world / "clips").iterdir())


def test_deterministic_and_worker_independent(world, tmp_path):
    again = tmp_path / "b"
    generate_video(again, CLIPS, frames_per_clip=FRAMES, fps=FPS, seed=SEED, size=SIZE, workers=2)
    a, b = _files(world), _files(again)
    assert sorted(a) == sorted(b)
    assert len([k for k in a if k.endswith(".jpg") and "/frames/" in k]) == CLIPS * FRAMES
    for name in a:
        assert a[name] == b[name], f"{name} differs between workers=0 and workers=2"
    meta = _load(world / "meta.json")
    assert meta["seed"] == SEED and meta["num_clips"] == CLIPS and meta["fps"] == FPS
    other = plan_clip(SEED + 1, 1, FRAMES, FPS, SIZE)
    assert not np.allclose(other.walkers[0].root_world_mm[:5], plan_clip(SEED, 1, FRAMES, FPS, SIZE)
                           .walkers[0].root_world_mm[:5])


def test_mupots_adapter_reads_a_clip(world):
    for n, clip in enumerate(_clips(world), start=1):
        ds = MuPoTS(clip)
        db = _load(clip / "data/MuPoTS-3D.json")
        assert len(db["images"]) == FRAMES and ds.records
        assert {r.extra["seq"] for r in ds.records} == {n}
        frames = {r.extra["frame"] for r in ds.records}
        assert frames <= set(range(FRAMES)) and len(frames) > FRAMES // 2
        rec = ds.records[0]
        image = cv2.imread(rec.img_path)
        assert image is not None and image.shape[:2] == (rec.img_size[1], rec.img_size[0])
        frame_file = clip / "frames" / f"{rec.extra['frame']:06d}.jpg"
        assert Path(rec.img_path).read_bytes() == frame_file.read_bytes()


def test_tracks_consistent_with_per_frame_file(world):
    for clip in _clips(world):
        db, tracks = _load(clip / "data/MuPoTS-3D.json"), _load(clip / "tracks.json")
        assert tracks["fps"] == FPS and tracks["num_frames"] == FRAMES
        by_id = {p["id"]: p for p in tracks["people"]}
        assert sorted(by_id) == list(range(1, len(tracks["people"]) + 1))  # unique, persistent 1..N
        assert 2 <= len(by_id) <= 8 + 1
        count = 0
        for ann in db["annotations"]:
            person = by_id[ann["track_id"]]
            k = person["frames"].index(ann["image_id"] - 1)
            assert person["boxes_xywh_px"][k] == ann["bbox"]
            assert person["joints_2d_px"][k] == ann["keypoints_img"]
            assert person["joints_3d_cam_mm"][k] == ann["keypoints_cam"]
            assert person["visibility"][k] == ann["keypoints_vis"]
            count += 1
        assert count == sum(len(p["frames"]) for p in tracks["people"])
        fx, fy, cx, cy = tracks["intrinsics"]
        for p in tracks["people"]:
            assert p["frames"] == sorted(set(p["frames"]))
            for j3, j2 in zip(p["joints_3d_cam_mm"], p["joints_2d_px"]):
                np.testing.assert_allclose(cam2pixel(np.array(j3), (fx, fy), (cx, cy))[:, :2], j2, atol=1e-3)


def _world_roots(tracks: dict, person: dict) -> np.ndarray:
    """The pelvis in the world frame (mm) from the tracks file's camera description."""
    cam = tracks["camera"]
    out = []
    for f, joints in zip(person["frames"], person["joints_3d_cam_mm"]):
        rot = (B.rot_y(cam["yaw_deg"][f]) @ B.rot_x(-cam["pitch_deg"]) @ B.rot_z(cam["roll_deg"])).T
        out.append(rot.T @ np.array(joints[ROOT]))
    return np.array(out)


def test_ids_persistent_and_motion_smooth_in_files(world):
    for clip in _clips(world):
        tracks = _load(clip / "tracks.json")
        for p in tracks["people"]:
            if len(p["frames"]) < 3:
                continue
            frames, roots = np.array(p["frames"]), _world_roots(tracks, p)
            step = np.diff(frames) == 1
            speed = np.linalg.norm(np.diff(roots, axis=0), axis=1)[step] * FPS / 1000.0
            assert (speed <= 2.2).all(), f"{clip.name} id {p['id']}: a jump of {speed.max():.2f} m/s (id swap?)"
            both = step[:-1] & step[1:]
            accel = np.linalg.norm(np.diff(roots, 2, axis=0), axis=1)[both] * FPS ** 2 / 1000.0
            assert (accel <= MAX_ACCEL).all()


def test_speeds_and_smoothness(long_plan):
    for w in long_plan.walkers:
        ground = np.stack([w.root_world_mm[:, 0], w.root_world_mm[:, 2]], 1) / 1000.0
        speed = np.linalg.norm(np.diff(ground, axis=0), axis=1) * FPS
        assert speed.max() <= 2.0 + 1e-6 and np.allclose(speed, w.path.speed_mps[1:], atol=0.06)
        stopping = np.flatnonzero((w.path.target_mps == 0.0) | (np.arange(len(ground)) == 0)
                                  & (w.path.speed_mps < 0.5))  # stops, and a start from rest
        times = np.arange(len(speed)) + 1
        far = np.ones(len(speed), bool) if not len(stopping) else \
            np.abs(times[:, None] - stopping[None]).min(1) > 2.0 * FPS
        assert (speed[far] >= 0.5 - 0.02).all(), "a walker is slower than 0.5 m/s away from any stop"
        accel = np.linalg.norm(np.diff(w.root_world_mm, 2, axis=0), axis=1) * FPS ** 2 / 1000.0
        assert accel.max() <= MAX_ACCEL
        assert (np.diff(w.phase_rad) >= 0).all()  # the gait phase advances with distance


def test_joint_angles_within_limits_and_arms_counter_swing(long_plan):
    for w in long_plan.walkers:
        for body in w.bodies:
            for name, value in body.angles.items():
                lo, hi = B.LIMITS[name[2:] if name[:2] in ("r_", "l_") else name]
                assert lo - 1e-9 <= value <= hi + 1e-9, (name, value)
            assert not B.torso_penetration(body.joints_mm, w.shape.height_mm).any()
        walking = w.path.speed_mps >= 0.5
        if walking.sum() > 25:
            hip = np.array([b.angles["r_hip_flex"] for b in w.bodies])[walking]
            arm = np.array([b.angles["r_sh_flex"] for b in w.bodies])[walking]
            assert np.corrcoef(hip, arm)[0, 1] < -0.5
            assert hip.max() - hip.min() > 15.0  # the legs really swing


def _inside(uv: list, width: int, height: int) -> np.ndarray:
    uv = np.asarray(uv)
    return (uv[:, 0] >= 0) & (uv[:, 0] <= width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= height - 1)


def _overlap(a: list, b: list) -> bool:
    return min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0]) and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1])


def test_crossing_occlusion_of_ten_frames(world):
    for clip in _clips(world):
        tracks = _load(clip / "tracks.json")
        near, far = tracks["crossing"]["near_id"], tracks["crossing"]["far_id"]
        episodes = [e for e in tracks["occlusions"] if (e["occluded"], e["by"]) == (far, near)]
        assert episodes and max(e["frames"] for e in episodes) >= 10, f"{clip.name}: {tracks['occlusions']}"
        ep = max(episodes, key=lambda e: e["frames"])
        people = {p["id"]: p for p in tracks["people"]}
        for f in range(ep["first_frame"], ep["last_frame"] + 1):
            a, b = people[near], people[far]
            ka, kb = a["frames"].index(f), b["frames"].index(f)
            assert _overlap(a["boxes_xywh_px"][ka], b["boxes_xywh_px"][kb])
            hidden = _inside(b["joints_2d_px"][kb], tracks["width"], tracks["height"]) & \
                ~np.array(b["visibility"][kb])
            assert hidden.sum() >= OCCLUDED_MIN_JOINTS
            assert a["joints_3d_cam_mm"][ka][ROOT][2] < b["joints_3d_cam_mm"][kb][ROOT][2]


def test_people_enter_and_leave(world):
    for clip in _clips(world):
        tracks = _load(clip / "tracks.json")
        assert any(len(p["frames"]) < FRAMES for p in tracks["people"]), f"{clip.name}: everyone always in view"


def test_pan_background_homography():
    plan = next(p for p in (plan_clip(SEED, c, FRAMES, FPS, SIZE) for c in range(1, 20)) if p.pan_amp_deg > 0)
    cam = plan.camera_at(0)
    np.testing.assert_allclose(frame_homography(cam, cam), np.eye(3), atol=1e-9)
    assert np.abs(np.diff(plan.yaw_deg)).max() * FPS <= 10.0 * 2 * math.pi / 10.0 + 1e-9  # deg/s, slow


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["--video", "--out", str(out), "--clips", "1", "--frames", "20", "--seed", "0", "--size", "64",
                     "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 20 and (out / "meta.json").is_file() and (out / "clips/C001/tracks.json").is_file()
    for bad in (["--clips", "0"], ["--clips", "1", "--frames", "5"], ["--clips", "1", "--fps", "0"], [],
                ["--clips", "1", "--num-train", "3"], ["--clips", "x"]):
        with pytest.raises(SystemExit) as exc:
            cli_main(["--video", "--out", str(tmp_path / "bad"), "--seed", "0", "--quiet", *bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "error" in err, err
    with pytest.raises(SystemExit):
        cli_main(["--out", str(tmp_path / "bad"), "--seed", "0", "--num-train", "1", "--num-test", "1", "--clips", "2"])
