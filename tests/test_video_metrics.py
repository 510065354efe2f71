"""Video metrics on hand-computed fixtures (and against motmetrics where it is installed)."""
import numpy as np
import pytest

from posenet3d.evaluation.video import acceleration_error, jitter, mot_metrics, track_pose_metrics

O1 = np.array([0.0, 0.0, 4000.0])
O2 = np.array([2000.0, 0.0, 4000.0])
NEAR = np.array([100.0, 0.0, 0.0])          # a prediction 100 mm off
FAR = np.array([-3000.0, 0.0, 4000.0])      # nobody there


def scene():
    """Two still people over 4 frames. Frame 1 has a false positive (id 30), frame 2 misses person 2, frame 3
    gives person 1 a new id (21): one FP, one FN, one ID switch."""
    gt_ids = [[1, 2]] * 4
    gt_roots = [np.stack([O1, O2])] * 4
    pred_ids = [[10, 20], [10, 20, 30], [10], [21, 20]]
    pred_roots = [np.stack([O1 + NEAR, O2 + NEAR]), np.stack([O1 + NEAR, O2 + NEAR, FAR]), np.stack([O1 + NEAR]),
                  np.stack([O1 + NEAR, O2 + NEAR])]
    return gt_ids, gt_roots, pred_ids, pred_roots


def test_switch_miss_and_false_positive_by_hand():
    m = mot_metrics(*scene(), threshold_mm=500.0)
    assert (m["num_gt"], m["num_pred"], m["matches"]) == (8, 8, 7)
    assert (m["fp"], m["fn"], m["id_switches"]) == (1, 1, 1)
    assert m["mota"] == pytest.approx(1.0 - 3 / 8)
    # Global id pairs: (1, 10) share frames 0–2, (2, 20) frames 0, 1, 3 → IDTP 6 of 8 on either side.
    assert (m["idtp"], m["idfp"], m["idfn"]) == (6, 2, 2)
    assert m["idf1"] == pytest.approx(12 / 16) and m["idp"] == pytest.approx(6 / 8) and m["idr"] == pytest.approx(6 / 8)
    assert m["motp_mm"] == pytest.approx(100.0)


def test_established_pair_is_kept_over_a_closer_newcomer():
    """CLEAR MOT: a person keeps last frame's hypothesis while it stays within the threshold, even if another
    one is closer now; the newcomer is a false positive, not a switch."""
    gt_ids, gt_roots = [[1], [1]], [O1[None], O1[None]]
    pred_ids = [[7], [7, 8]]
    pred_roots = [(O1 + NEAR)[None], np.stack([O1 + 3 * NEAR, O1 + 0.5 * NEAR])]
    m = mot_metrics(gt_ids, gt_roots, pred_ids, pred_roots)
    assert (m["id_switches"], m["fp"], m["fn"]) == (0, 1, 0)
    assert m["motp_mm"] == pytest.approx((100.0 + 300.0) / 2)


def test_switch_counted_across_a_miss():
    gt_ids, gt_roots = [[1], [1], [1]], [O1[None]] * 3
    pred_ids = [[5], [], [6]]
    pred_roots = [(O1 + NEAR)[None], np.zeros((0, 3)), (O1 + NEAR)[None]]
    m = mot_metrics(gt_ids, gt_roots, pred_ids, pred_roots)
    assert (m["id_switches"], m["fn"], m["fp"], m["matches"]) == (1, 1, 0, 2)
    assert m["mota"] == pytest.approx(1.0 - 2 / 3)
    assert m["idtp"] == 1 and m["idf1"] == pytest.approx(2 / 5)


def test_threshold_is_inclusive_and_in_mm():
    at = [(O1 + np.array([0.0, 0.0, 500.0]))[None]]
    past = [(O1 + np.array([0.0, 0.0, 500.5]))[None]]
    assert mot_metrics([[1]], [O1[None]], [[1]], at, threshold_mm=500.0)["matches"] == 1
    m = mot_metrics([[1]], [O1[None]], [[1]], past, threshold_mm=500.0)
    assert (m["matches"], m["fn"], m["fp"], m["mota"]) == (0, 1, 1, -1.0)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="untracked"):
        mot_metrics([[1]], [O1[None]], [[None]], [O1[None]])
    with pytest.raises(ValueError, match="frames"):
        mot_metrics([[1], [1]], [O1[None]] * 2, [[1]], [O1[None]])


def test_acceleration_error_and_jitter_by_hand():
    gt = np.zeros((4, 2, 3))
    gt[:, 0, 2] = [0.0, 1.0, 4.0, 9.0]          # Δ² = 2 at both inner frames (constant acceleration)
    pred = gt.copy()
    pred[2, 0, 0] += 3.0                         # Δ² of the error along x: +3 at t = 1, −6 at t = 2
    # joint 0: ‖(3, 0, 0)‖ = 3 and ‖(−6, 0, 0)‖ = 6; joint 1: 0 → mean (3 + 6 + 0 + 0) / 4
    assert acceleration_error(pred, gt) == pytest.approx(9.0 / 4)
    assert jitter(gt) == pytest.approx((2.0 + 2.0 + 0 + 0) / 4)
    # jitter of pred: joint 0 Δ² = (3, 0, 2) and (−6, 0, 2)
    assert jitter(pred) == pytest.approx((np.hypot(3, 2) + np.hypot(6, 2)) / 4)
    with pytest.raises(ValueError, match="T ≥ 3"):
        jitter(gt[:2])


def test_track_pose_metrics_by_hand():
    gt = np.zeros((3, 2, 3))
    gt[:, 1, 1] = 500.0
    pred = gt + np.array([0.0, 0.0, 100.0])     # whole person 100 mm too far: root error only
    m = track_pose_metrics(pred, gt, root_idx=0)
    assert m["mpjpe_mm"] == pytest.approx(100.0) and m["mrpe_mm"] == pytest.approx(100.0)
    assert m["mpjpe_rel_mm"] == pytest.approx(0.0) and m["accel_error"] == pytest.approx(0.0)


def test_agrees_with_motmetrics_on_random_scenes():
    """Runs only where motmetrics (and pandas) are installed; not a dependency of the package."""
    mm = pytest.importorskip("motmetrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        n_frames, gt_ids, gt_roots, pred_ids, pred_roots = 30, [], [], [], []
        for _t in range(n_frames):
            present = [o for o in range(4) if rng.random() < 0.8]
            roots = np.array([[1000.0 * o, 0.0, 4000.0] for o in present]).reshape(-1, 3)
            gt_ids.append(present)
            gt_roots.append(roots)
            hyp, hroots = [], []
            for o, r in zip(present, roots):
                if rng.random() < 0.85:
                    hyp.append(int(o * 10 + rng.integers(0, 2)) if rng.random() < 0.1 else o * 10)
                    hroots.append(r + rng.normal(0, 250.0, 3))
            if rng.random() < 0.3:
                hyp.append(99)
                hroots.append(rng.uniform(-1000, 4000, 3))
            keep = np.unique(hyp, return_index=True)[1]
            pred_ids.append([hyp[k] for k in keep])
            pred_roots.append(np.array([hroots[k] for k in keep]).reshape(-1, 3))
        ours = mot_metrics(gt_ids, gt_roots, pred_ids, pred_roots, threshold_mm=500.0)
        acc = mm.MOTAccumulator(auto_id=True)
        for o, orr, h, hr in zip(gt_ids, gt_roots, pred_ids, pred_roots):
            d = np.linalg.norm(orr[:, None] - hr[None], axis=-1) if len(o) and len(h) else np.empty((len(o), len(h)))
            acc.update(o, h, np.where(d <= 500.0, d, np.nan))
        names = ["mota", "idf1", "idp", "idr", "num_switches", "num_false_positives", "num_misses"]
        ref = mm.metrics.create().compute(acc, metrics=names, name="x").iloc[0]
        assert ours["mota"] == pytest.approx(ref["mota"]) and ours["idf1"] == pytest.approx(ref["idf1"])
        assert ours["idp"] == pytest.approx(ref["idp"]) and ours["idr"] == pytest.approx(ref["idr"])
        assert (ours["id_switches"], ours["fp"], ours["fn"]) == (ref["num_switches"], ref["num_false_positives"],
                                                                 ref["num_misses"])
