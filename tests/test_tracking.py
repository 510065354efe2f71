"""Tracker: crossing people keep their ids, short occlusions give the old id back, ids are never reused."""
import numpy as np
import pytest

from posenet3d.tracking import People, Tracker, TrackerConfig, box_iou_xywh

FOCAL_PX, CX_PX, CY_PX = 1500.0, 960.0, 540.0
HEIGHT_MM = 1800.0


def boxes_of(roots_mm: np.ndarray) -> np.ndarray:
    """Pinhole boxes [x, y, w, h] px of 1.8 m tall people standing at ``roots_mm`` (N, 3)."""
    u = FOCAL_PX * roots_mm[:, 0] / roots_mm[:, 2] + CX_PX
    v = FOCAL_PX * roots_mm[:, 1] / roots_mm[:, 2] + CY_PX
    h = FOCAL_PX * HEIGHT_MM / roots_mm[:, 2]
    return np.stack([u - 0.2 * h, v - 0.5 * h, 0.4 * h, h], axis=1)


def frame(roots_mm, rng, pose, depth_noise_mm=100.0) -> People:
    """People at ``roots_mm`` with RootNet-like noise (depth σ ``depth_noise_mm``, x/y σ 10 mm, pose σ 20 mm)."""
    roots = np.asarray(roots_mm, dtype=np.float64).reshape(-1, 3)
    noisy = roots + rng.normal(0.0, 1.0, roots.shape) * np.array([10.0, 10.0, depth_noise_mm])
    joints = noisy[:, None] + pose[None] + rng.normal(0.0, 20.0, (len(roots),) + pose.shape)
    return People(noisy, boxes_of(roots) + rng.normal(0.0, 3.0, (len(roots), 4)), joints)


@pytest.fixture
def pose():
    # One shared pose template: the pose term cannot tell the people apart, the 3D root has to.
    return np.random.default_rng(1).normal(0.0, 300.0, (17, 3))


def test_iou_hand_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]])
    assert np.allclose(box_iou_xywh(a, b), [[50 / 150, 0.0, 1.0]])


@pytest.mark.parametrize("depth_b_mm, depth_noise_mm", [(6000.0, 100.0), (5000.0, 100.0), (5000.0, 200.0)])
def test_crossing_people_keep_their_ids(pose, depth_b_mm, depth_noise_mm):
    rng = np.random.default_rng(0)
    n = 60
    t = np.arange(n)
    # A walks right at 4 m, 1 m/s; B walks left further back, at the speed that makes both cross the image
    # centre at frame 30 (1.5 m/s at 6 m): their boxes overlap around it while their depths differ by 1–2 m.
    a = np.stack([-1200.0 + 40.0 * t, np.zeros(n), np.full(n, 4000.0)], axis=1)
    speed_b = 40.0 * depth_b_mm / 4000.0
    b = np.stack([30 * speed_b - speed_b * t, np.zeros(n), np.full(n, depth_b_mm)], axis=1)
    overlap = np.array([box_iou_xywh(boxes_of(a[[k]]), boxes_of(b[[k]]))[0, 0] > 0 for k in range(n)])
    assert overlap.sum() >= 10, "the fixture must make the boxes overlap for at least 10 frames"

    tracker = Tracker(TrackerConfig(min_hits=3, max_age=10))
    ids = np.array([tracker.update(k, frame(np.stack([a[k], b[k]]), rng, pose, depth_noise_mm)) for k in range(n)])
    assert ids.dtype != object, "people seen from the first frame have ids at once"
    assert set(ids[:, 0]) == {ids[0, 0]} and set(ids[:, 1]) == {ids[0, 1]}
    assert ids[0, 0] != ids[0, 1]


def test_hidden_for_less_than_max_age_gets_old_id(pose):
    rng = np.random.default_rng(2)
    max_age = 12
    tracker = Tracker(TrackerConfig(min_hits=3, max_age=max_age))
    walker = lambda k: np.array([-1000.0 + 40.0 * k, 0.0, 5000.0])  # noqa: E731 - 1 m/s to the right
    stander = np.array([1500.0, 0.0, 3500.0])
    hidden = range(20, 20 + max_age)            # max_age frames unseen: the longest gap that keeps the id
    seen = {}
    for k in range(50):
        roots = [stander] if k in hidden else [stander, walker(k)]
        ids = tracker.update(k, frame(np.stack(roots), rng, pose))
        seen.setdefault("stander", set()).add(ids[0])
        if len(ids) == 2:
            seen.setdefault("walker", set()).add(ids[1])
    assert len(seen["stander"]) == 1
    assert len(seen["walker"]) == 1, f"walker ids {seen['walker']}"


def test_hidden_longer_than_max_age_gets_new_id_and_ids_never_reused(pose):
    rng = np.random.default_rng(3)
    max_age = 5
    tracker = Tracker(TrackerConfig(min_hits=3, max_age=max_age))
    here = np.array([[0.0, 0.0, 4000.0]])
    first = [tracker.update(k, frame(here, rng, pose, depth_noise_mm=30.0)) for k in range(10)]
    for k in range(10, 10 + max_age + 1):           # one frame longer than max_age: the track retires
        assert tracker.update(k, People(np.zeros((0, 3)), np.zeros((0, 4)))) == []
    assert tracker.active_ids == []
    k0 = 10 + max_age + 1
    later = [tracker.update(k, frame(here, rng, pose, depth_noise_mm=30.0)) for k in range(k0, k0 + 10)]
    assert {i for ids in first for i in ids} == {1}
    # Same place, same pose, but a new person for the tracker: tentative for min_hits − 1 frames, then id 2.
    assert later[:2] == [[None], [None]]
    assert {i for ids in later[2:] for i in ids} == {2}


def test_ids_only_grow_under_random_comings_and_goings(pose):
    """Many people appear and vanish; no id is ever handed to a second person, and no retired id comes back."""
    rng = np.random.default_rng(4)
    max_age = 4
    tracker = Tracker(TrackerConfig(min_hits=2, max_age=max_age))
    slots = [np.array([-3000.0 + 1500.0 * s, 0.0, 4000.0 + 800.0 * (s % 2)]) for s in range(5)]
    last_seen: dict[int, int] = {}
    max_id = 0
    for k in range(300):
        present = [s for s in range(5) if (k // (7 + 3 * s)) % 2 == 0 and rng.random() > 0.1]
        people = frame(np.stack([slots[s] for s in present]) if present else np.zeros((0, 3)), rng, pose, 30.0)
        for i in tracker.update(k, people):
            if i is None:
                continue
            if i not in last_seen:
                assert i > max_id, "a new id must be larger than every earlier one"
                max_id = i
            else:
                assert k - last_seen[i] <= max_age + 1, f"id {i} came back after retirement"
            last_seen[i] = k
    assert max_id >= 10


def test_false_positive_for_one_frame_gets_no_id(pose):
    rng = np.random.default_rng(5)
    tracker = Tracker(TrackerConfig(min_hits=3))
    person = np.array([[0.0, 0.0, 4000.0]])
    for k in range(5):
        tracker.update(k, frame(person, rng, pose))
    ids = tracker.update(5, frame(np.concatenate([person, [[2500.0, 0.0, 7000.0]]]), rng, pose))
    assert ids == [1, None]
    for k in range(6, 9):
        tracker.update(k, frame(person, rng, pose))
    ids = tracker.update(9, frame(np.concatenate([person, [[-2500.0, 0.0, 3000.0]]]), rng, pose))
    ids += tracker.update(10, frame(np.concatenate([person, [[-2500.0, 0.0, 3000.0]]]), rng, pose))[1:]
    ids += tracker.update(11, frame(np.concatenate([person, [[-2500.0, 0.0, 3000.0]]]), rng, pose))[1:]
    assert ids == [1, None, None, 2], "the flicker at frame 5 must not have used up an id"


def test_frames_must_increase_and_config_is_checked():
    tracker = Tracker()
    tracker.update(3, People(np.zeros((0, 3)), np.zeros((0, 4))))
    with pytest.raises(ValueError, match="increase"):
        tracker.update(3, People(np.zeros((0, 3)), np.zeros((0, 4))))
    with pytest.raises(ValueError, match="min_hits"):
        TrackerConfig(min_hits=0)
    cfg = TrackerConfig(gate_root_mm=1000.0)
    assert cfg.gate_mm(1) == 1000.0 and cfg.gate_mm(3) == 1200.0
    assert TrackerConfig().gate_mm(100) == 2500.0
