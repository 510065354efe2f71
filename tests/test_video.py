"""The video layer: tracking and smoothing of estimator results over frames, and eval-video end to end."""
import json

import numpy as np
import pytest

from posenet3d.camera import Intrinsics
from posenet3d.results import EstimateResult, Person
from posenet3d.video import VideoTracker, fill_gaps

J, ROOT = 5, 0


def _person(root_mm, rng, noise_mm=0.0):
    joints = np.asarray(root_mm, float) + np.linspace(-300, 300, J)[:, None] * [0.0, 1.0, 0.0]
    joints = joints + rng.normal(0, noise_mm, joints.shape)
    u = joints[:, :2] / joints[:, 2:] * 1000.0 + 500.0
    box = np.r_[u.min(0) - 20, u.max(0) - u.min(0) + 40]
    return Person(bbox=box, score=0.9, root_cam_mm=joints[ROOT], joints_cam_mm=joints, joints_2d_px=u,
                  crop_box=box, joint_conf=np.full(J, 0.8))


def _frame(people, order):
    return EstimateResult([people[i] for i in order], tuple(f"j{i}" for i in range(J)), ((0, 1),),
                          Intrinsics(1000.0, 1000.0, 500.0, 500.0), (1000, 1000))


def test_crossing_people_keep_ids_and_online_smoothing_removes_jitter():
    rng = np.random.default_rng(0)
    vt = VideoTracker(ROOT, fps=25.0, smooth="online")
    ids_a, ids_b, raw_a, smooth_a = [], [], [], []
    for f in range(60):  # A walks right at 3 m, B walks left at 5 m; their boxes cross around frame 30
        x = -1500.0 + 50.0 * f
        a, b = _person([x, 0, 3000], rng, 30.0), _person([-x, 0, 5000], rng, 30.0)
        order = [0, 1] if f % 2 else [1, 0]  # the detector's order changes from frame to frame
        tf = vt.update(f, _frame([a, b], order))
        ia, ib = order.index(0), order.index(1)
        ids_a.append(tf.track_ids[ia])
        ids_b.append(tf.track_ids[ib])
        raw_a.append(a.joints_cam_mm)
        smooth_a.append(tf.smoothed_cam_mm[ia])
    assert len({i for i in ids_a[3:]}) == 1 and len({i for i in ids_b[3:]}) == 1 and ids_a[-1] != ids_b[-1]
    second = np.diff(np.array(smooth_a[10:]), n=2, axis=0)
    second_raw = np.diff(np.array(raw_a[10:]), n=2, axis=0)
    assert np.linalg.norm(second, axis=-1).mean() < 0.5 * np.linalg.norm(second_raw, axis=-1).mean()
    tracks = vt.tracks()
    assert set(tracks) == {ids_a[-1], ids_b[-1]}
    t = tracks[ids_a[-1]]
    assert t["joints_cam_mm"].shape == (len(t["frames"]), J, 3) and t["joint_conf"].shape == (len(t["frames"]), J)


def test_offline_tracks_are_smoothed_at_the_end_and_none_leaves_them_raw():
    rng = np.random.default_rng(1)
    vts = {m: VideoTracker(ROOT, fps=25.0, smooth=m) for m in ("none", "offline")}
    for f in range(40):
        res = _frame([_person([0.0, 0, 4000 + 20.0 * f], rng, 40.0)], [0])
        for vt in vts.values():
            tf = vt.update(f, res)
            assert np.array_equal(tf.smoothed_cam_mm[0], res.people[0].joints_cam_mm)  # nothing online
    raw = vts["none"].tracks()
    off = vts["offline"].tracks()
    t_raw, t_off = next(iter(raw.values())), next(iter(off.values()))
    assert np.array_equal(t_raw["smoothed_cam_mm"], t_raw["joints_cam_mm"])
    def jitter(x):
        return np.linalg.norm(np.diff(x, n=2, axis=0), axis=-1).mean()

    assert jitter(t_off["smoothed_cam_mm"]) < 0.3 * jitter(t_raw["joints_cam_mm"])
    with pytest.raises(ValueError, match="smooth must be one of"):
        VideoTracker(ROOT, 25.0, smooth="kalman")


def test_fill_gaps_interpolates_short_gaps_only():
    frames = np.array([0, 1, 4, 5, 20])
    joints = np.stack([np.full((J, 3), 10.0 * f) for f in frames])
    track = {"frames": frames, "joints_cam_mm": joints, "smoothed_cam_mm": joints.copy(),
             "joints_2d_px": joints[..., :2].copy(), "boxes_xywh_px": np.stack([[f, f, 10.0, 20.0] for f in frames]),
             "joint_conf": np.full((5, J), 0.7), "scores": np.full(5, 0.9), "interpolated": np.zeros(5, bool)}
    out = fill_gaps(track, max_gap_frames=2)
    assert out["frames"].tolist() == [0, 1, 2, 3, 4, 5, 20]  # the 2-frame gap filled, the 14-frame gap kept open
    assert out["interpolated"].tolist() == [False, False, True, True, False, False, False]
    np.testing.assert_allclose(out["joints_cam_mm"][:, 0, 0], [0, 10, 20, 30, 40, 50, 200])  # linear in time
    np.testing.assert_allclose(out["boxes_xywh_px"][2], [2, 2, 10, 20])
    assert out["joint_conf"][2].tolist() == [0.0] * J and out["scores"].tolist()[2:4] == [0.0, 0.0]
    assert fill_gaps(track, 1)["frames"].tolist() == frames.tolist()


def test_offline_tracks_fill_a_short_occlusion():
    rng = np.random.default_rng(2)
    vt = VideoTracker(ROOT, fps=25.0, smooth="offline")
    for f in range(40):
        if 15 <= f < 20:  # hidden for 5 frames (0.2 s)
            vt.update(f, _frame([], []))
            continue
        vt.update(f, _frame([_person([-1000.0 + 40.0 * f, 0, 4000], rng, 10.0)], [0]))
    (t,) = vt.tracks().values()
    assert t["frames"].tolist() == list(range(40)) and t["interpolated"].sum() == 5
    x = t["smoothed_cam_mm"][15:20, ROOT, 0]
    np.testing.assert_allclose(x, -1000.0 + 40.0 * np.arange(15, 20), atol=30.0)  # walks on through the gap


def test_eval_video_end_to_end_on_a_short_clip(tmp_path, capsys):
    from posenet3d.commands.eval_video import main
    from posenet3d.synth import generate_video
    generate_video(tmp_path / "v", 1, frames_per_clip=24, fps=25.0, seed=5, size=256)
    assert main(["--data", str(tmp_path / "v"), "--threads", "1", "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "MOTA" in out and "IDF1" in out and "offline" in out
    r = json.loads((tmp_path / "r.json").read_text())
    s = r["summary"]
    assert s["frames"] == 24 and 0.0 <= s["idf1"] <= 1.0 and s["num_gt"] > 0
    assert set(s["pose"]) == {"none", "online", "offline"}
    assert main(["--data", str(tmp_path / "nothing")]) == 2
