"""BVH export of tracks (posenet3d.bvh, posenet3d export-bvh, demo --bvh): forward kinematics of the written file
— ours and the independent reader bvhio — puts every joint where the bone-length-normalised track has it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_demo import bundle, run, write_video  # noqa: F401  (the tiny bundle fixture and helpers)

from posenet3d import cli
from posenet3d.bvh import BvhError, bone_tree, forward_kinematics, read_bvh, track_to_bvh
from posenet3d.skeletons import MUCO, MUPOTS

# bvhio imports PyGLM the way PyGLM will deprecate
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


def walking_track(joint_set, frames: int, seed: int = 0) -> np.ndarray:
    """(T, J, 3) camera-frame mm: a noisy person moving sideways and away, limbs swinging."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(0, 250, (joint_set.joint_num, 3))
    t = np.arange(frames)[:, None, None]
    swing = 150 * np.sin(0.3 * t + rng.uniform(0, 6, (1, joint_set.joint_num, 1)))
    return rest[None] + swing + rng.normal(0, 20, (frames, joint_set.joint_num, 3)) + \
        np.array([10.0, 0.0, 15.0]) * t + np.array([0.0, 0.0, 4500.0])


def normalised_by_hand(joints: np.ndarray, joint_set) -> np.ndarray:
    """The test's own bone-length normalisation: root as observed, each bone along its observed direction with
    the median length over the frames."""
    parent = bone_tree(joint_set.joint_num, joint_set.skeleton, joint_set.root_idx)
    out = joints.copy()
    lengths = {j: np.median(np.linalg.norm(joints[:, j] - joints[:, p], axis=-1)) for j, p in enumerate(parent)
               if p >= 0}
    done = {joint_set.root_idx}
    while len(done) < joint_set.joint_num:
        for j, p in enumerate(parent):
            if j not in done and p in done:
                d = joints[:, j] - joints[:, p]
                out[:, j] = out[:, p] + lengths[j] * d / np.linalg.norm(d, axis=-1, keepdims=True)
                done.add(j)
    return out


def bvhio_positions(path: Path, names, frames: int) -> np.ndarray:
    """(T, J, 3) world positions of the named joints as the bvhio package computes them."""
    import bvhio
    root = bvhio.readAsHierarchy(str(path))
    by_name = {}
    stack = [root]
    while stack:
        j = stack.pop()
        by_name[j.Name] = j
        stack.extend(j.Children)
    out = np.zeros((frames, len(names), 3))
    for t in range(frames):
        root.loadPose(t, recursive=True)
        for k, n in enumerate(names):
            out[t, k] = np.array(by_name[n].PositionWorld, dtype=np.float64)
    return out


@pytest.mark.parametrize("joint_set", [MUCO, MUPOTS], ids=lambda s: s.name)
@pytest.mark.parametrize("y_up", [False, True], ids=["camera", "y-up"])
def test_fk_of_the_file_reproduces_the_normalised_joints_within_1mm(joint_set, y_up, tmp_path):
    joints = walking_track(joint_set, 30)
    out = track_to_bvh(np.arange(30), joints, joint_set.joints_name, joint_set.skeleton, joint_set.root_idx, 30.0,
                       y_up=y_up)
    expected = normalised_by_hand(joints, joint_set)
    if y_up:
        expected = expected * np.array([1.0, -1.0, -1.0])
    bvh = read_bvh(out.text)
    assert bvh.frame_time_s == pytest.approx(1 / 30) and len(bvh.motion) == 30
    ours = forward_kinematics(bvh)
    for k, name in enumerate(joint_set.joints_name):
        assert np.abs(ours[name] - expected[:, k]).max() < 1.0, name
    path = tmp_path / "track.bvh"
    path.write_text(out.text)
    theirs = bvhio_positions(path, joint_set.joints_name, 30)
    assert np.abs(theirs - expected).max() < 1.0
    # fixed bone lengths: every frame, every bone has the track's median length
    parent = bone_tree(joint_set.joint_num, joint_set.skeleton, joint_set.root_idx)
    for j, p in enumerate(parent):
        if p >= 0:
            length = np.linalg.norm(ours[joint_set.joints_name[j]] - ours[joint_set.joints_name[p]], axis=-1)
            assert np.ptp(length) < 1e-3
            assert out.bone_lengths_mm[joint_set.joints_name[j]] == pytest.approx(length[0], abs=1e-2)


def test_rest_pose_is_a_t_pose_and_y_up_is_right_handed():
    joints = walking_track(MUCO, 5)
    text = track_to_bvh(np.arange(5), joints, MUCO.joints_name, MUCO.skeleton, MUCO.root_idx, 25.0, y_up=True).text
    offsets = {n.name: n.offset for n in read_bvh(text).nodes}
    assert offsets["Spine"][1] > 0 and offsets["R_Knee"][1] < 0  # up is +y
    assert offsets["R_Elbow"][0] < 0 < offsets["L_Elbow"][0]  # facing the camera (+z): the right arm at -x
    assert offsets["R_Toe"][2] > 0
    camera = track_to_bvh(np.arange(5), joints, MUCO.joints_name, MUCO.skeleton, MUCO.root_idx, 25.0).text
    assert {n.name: n.offset for n in read_bvh(camera).nodes}["Spine"][1] < 0  # camera frame: up is -y


def test_gaps_and_missing_joints_are_interpolated():
    joints = walking_track(MUPOTS, 12)
    frames = np.r_[np.arange(5), np.arange(8, 15)]  # frames 5..7 missed
    joints[3, 4] = np.nan  # a missing joint in one frame
    out = track_to_bvh(frames, joints, MUPOTS.joints_name, MUPOTS.skeleton, MUPOTS.root_idx, 25.0)
    assert out.first_frame == 0 and out.frames == 15 and out.filled == 3
    assert np.isfinite(read_bvh(out.text).motion).all()


def test_a_track_shorter_than_two_frames_has_no_bvh():
    with pytest.raises(BvhError, match="needs at least 2"):
        track_to_bvh([7], walking_track(MUCO, 1), MUCO.joints_name, MUCO.skeleton, MUCO.root_idx, 25.0)


def tracks_file(path: Path, lengths: list[int], fps: float = 20.0) -> Path:
    tracks = []
    for k, n in enumerate(lengths):
        j = walking_track(MUCO, n, seed=k).round(3).tolist()
        tracks.append({"track_id": k + 1, "frames": list(range(3, 3 + n)), "joints_cam_mm": j,
                       "joints_cam_mm_smoothed": j, "joints_2d_px": [[[0.0, 0.0]] * MUCO.joint_num] * n,
                       "joint_conf": [[0.5] * MUCO.joint_num] * n, "boxes_xywh_px": [[0, 0, 1, 1]] * n,
                       "scores": [0.9] * n})
    path.write_text(json.dumps({"input": "clip.mp4", "fps": fps, "smoothing": "online",
                                "joint_names": list(MUCO.joints_name), "skeleton": [list(b) for b in MUCO.skeleton],
                                "units": {}, "tracks": tracks}))
    return path


def test_export_bvh_command(tmp_path, capsys):
    src = tracks_file(tmp_path / "clip_tracks.json", [10, 1])
    out = tmp_path / "bvh"
    assert cli.main(["export-bvh", str(src), "--out", str(out), "--y-up"]) == 0
    stdout = capsys.readouterr().out
    assert "1 track shorter than 2 frames, so no BVH: id 2" in stdout and "1 of 2 tracks" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["clip_bvh.json", "clip_id1.bvh"]
    index = json.loads((out / "clip_bvh.json").read_text())
    assert index["tracks"][0]["file"] == "clip_id1.bvh" and index["tracks"][0]["first_frame"] == 3
    assert index["tracks"][0]["start_time_s"] == pytest.approx(0.15) and "Y-up" in index["axes"]
    assert index["tracks"][1]["file"] is None and "at least 2" in index["tracks"][1]["note"]
    assert read_bvh((out / "clip_id1.bvh").read_text()).frame_time_s == pytest.approx(0.05)
    assert cli.main(["export-bvh", str(tmp_path / "missing.json"), "--out", str(out)]) == 2
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["export-bvh", str(tmp_path / "bad.json"), "--out", str(out)]) == 2
    assert "not a tracks file" in capsys.readouterr().err


def test_demo_video_bvh_flag(bundle, tmp_path):  # noqa: F811
    video = tmp_path / "clip.mp4"
    write_video(video, 6)
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(video), "--no-video-3d", "--no-html", "--bvh") == 0
    index = json.loads((out / "clip_bvh.json").read_text())
    tracks = json.loads((out / "clip_tracks.json").read_text())
    assert [t["track_id"] for t in index["tracks"]] == [t["track_id"] for t in tracks["tracks"]]
    for entry, track in zip(index["tracks"], tracks["tracks"]):
        if len(track["frames"]) >= 2:
            bvh = read_bvh((out / entry["file"]).read_text())
            assert len(bvh.motion) == track["frames"][-1] - track["frames"][0] + 1
            assert bvh.frame_time_s == pytest.approx(0.1)
        else:
            assert entry["file"] is None
