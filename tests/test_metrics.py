import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posenet3d.metrics import (
    AUC_THRESHOLDS_MM,
    MPI17_BONE_PARENTS,
    ap_root,
    auc3d,
    joint_errors,
    match_poses_2d,
    mean_error,
    mpjpe,
    mrpe,
    pck3d,
    procrustes_align,
    rescale_to_gt_bone_lengths,
)


def _poses(n=4, j=17, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=300.0, size=(n, j, 3)) + np.array([0.0, 0.0, 5000.0])


def _similarity_copy(gt, seed=1, scale=1.3):
    rots = Rotation.random(gt.shape[0], random_state=seed).as_matrix()
    t = np.random.default_rng(seed).normal(scale=500.0, size=(gt.shape[0], 1, 3))
    return scale * np.einsum("nab,njb->nja", rots, gt) + t


@pytest.mark.parametrize("alignment", ["none", "scale", "procrustes", "rigid"])
def test_identity_gives_zero(alignment):
    gt = _poses()
    assert np.allclose(mpjpe(gt, gt, alignment=alignment, root_idx=0), 0.0, atol=1e-6)
    assert np.allclose(mpjpe(gt, gt, alignment=alignment), 0.0, atol=1e-6)


def test_similarity_copy_only_vanishes_under_procrustes():
    gt = _poses()
    pred = _similarity_copy(gt)
    assert np.all(mpjpe(pred, gt, alignment="procrustes") < 1e-6)
    assert np.allclose(procrustes_align(pred, gt), gt, atol=1e-6)
    assert np.all(mpjpe(pred, gt) > 100.0)
    assert np.all(mpjpe(pred, gt, alignment="rigid") > 10.0)       # no scale: the 1.3x size stays wrong
    assert np.all(mpjpe(pred, gt, alignment="scale", root_idx=0) > 10.0)


def test_rigid_alignment_recovers_rotation_and_translation_without_scale():
    gt = _poses()
    pred = _similarity_copy(gt, scale=1.0)
    assert np.all(mpjpe(pred, gt, alignment="rigid") < 1e-6)


def test_mirrored_copy_is_not_undone_without_reflection():
    gt = _poses()
    pred = gt * np.array([-1.0, 1.0, 1.0])
    assert np.all(mpjpe(pred, gt, alignment="procrustes") > 10.0)
    assert np.all(mpjpe(pred, gt, alignment="rigid") > 10.0)
    assert np.all(mpjpe(pred, gt, alignment="procrustes", allow_reflection=True) < 1e-6)
    aligned = procrustes_align(pred, gt)
    # the fitted map is a proper rotation (+scale): it preserves handedness of the prediction
    a0, g0 = aligned - aligned.mean(1, keepdims=True), pred - pred.mean(1, keepdims=True)
    m = np.linalg.lstsq(g0[0], a0[0], rcond=None)[0]
    assert np.linalg.det(m) > 0


def test_alignment_matches_independent_kabsch_and_optimal_scale():
    rng = np.random.default_rng(3)
    gt = _poses(n=3, seed=3)
    pred = _similarity_copy(gt, seed=4, scale=0.8) + rng.normal(scale=40.0, size=gt.shape)
    ours_rigid = procrustes_align(pred, gt, scale=False)
    ours_sim = procrustes_align(pred, gt, scale=True)
    for i in range(gt.shape[0]):
        p0 = pred[i] - pred[i].mean(0)
        g0 = gt[i] - gt[i].mean(0)
        rot, _ = Rotation.align_vectors(g0, p0)              # scipy's Kabsch: R minimising ||g0 - R p0||
        rp = rot.apply(p0)
        assert np.allclose(ours_rigid[i], rp + gt[i].mean(0), atol=1e-6)
        s = np.sum(g0 * rp) / np.sum(p0 ** 2)                   # least-squares scale for that rotation
        assert np.allclose(ours_sim[i], s * rp + gt[i].mean(0), atol=1e-6)


def test_mask_excludes_joints_from_fit_and_error():
    gt = _poses(n=2)
    pred = _similarity_copy(gt)
    pred[:, 5] += 1000.0                                        # a wild joint
    mask = np.ones(gt.shape[1], dtype=bool)
    mask[5] = False
    assert np.all(mpjpe(pred, gt, mask=mask, alignment="procrustes") < 1e-6)
    assert np.all(mpjpe(pred, gt, alignment="procrustes") > 1.0)
    err = joint_errors(pred, gt, mask=mask, alignment="procrustes")
    assert np.all(err[:, 5] > 100.0) and np.allclose(np.delete(err, 5, axis=1), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="no joint"):
        mpjpe(pred, gt, mask=np.zeros(gt.shape[1], dtype=bool))


def test_root_relative_and_averaging():
    gt = _poses(n=3)
    pred = gt + np.array([50.0, -20.0, 300.0])                 # pure translation
    assert np.allclose(mpjpe(pred, gt, root_idx=0), 0.0, atol=1e-9)
    assert np.allclose(mpjpe(pred, gt), np.linalg.norm([50.0, -20.0, 300.0]))
    assert mean_error([1.0, 2.0, 6.0]) == pytest.approx(3.0)
    assert mean_error([1.0, 2.0, 6.0], groups=[0, 0, 1]) == pytest.approx((1.5 + 6.0) / 2)
    with pytest.raises(ValueError, match="alignment"):
        mpjpe(pred, gt, alignment="umeyama")
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        mpjpe(pred[0], gt[0])


def test_pck_is_strict_and_auc_perfect_is_30_of_31():
    assert pck3d(np.array([150.0])) == 0.0
    assert pck3d(np.array([np.nextafter(150.0, 0.0)])) == 100.0
    assert pck3d(np.array([[10.0, 200.0, 149.0, 150.0]])) == pytest.approx(50.0)
    assert pck3d(np.array([[10.0, 200.0, 149.0, 150.0]]), joints=[0, 2]) == pytest.approx(100.0)
    assert auc3d(np.zeros((5, 14))) == pytest.approx(30 / 31 * 100)
    assert auc3d(np.array([5.0])) == pytest.approx(29 / 31 * 100)       # 5 is not < 5
    assert auc3d(np.array([150.0])) == 0.0
    errs = np.random.default_rng(0).uniform(0, 200, size=(50, 14))
    closed_form = np.maximum(0.0, 1.0 - (np.floor(errs / 5.0) + 1.0) / 31.0).mean() * 100   # MeTRAbs get_auc
    assert auc3d(errs) == pytest.approx(closed_form)
    assert len(AUC_THRESHOLDS_MM) == 31 and AUC_THRESHOLDS_MM[-1] == 150.0


def test_mrpe_per_axis():
    gt = np.array([[0.0, 0.0, 5000.0], [100.0, 100.0, 3000.0]])
    pred = gt + np.array([[3.0, 4.0, 0.0], [-6.0, 0.0, 8.0]])
    out = mrpe(pred, gt)
    assert out["mrpe"] == pytest.approx(7.5)                   # (5 + 10) / 2
    assert (out["x"], out["y"], out["z"]) == pytest.approx((4.5, 2.0, 4.0))


def test_ap_root_hand_computed_ranking():
    # image 0: GT A at x=0, GT B at x=300 (z = 5000 mm); image 1: one GT, no prediction; image 2: no GT.
    gts = [np.array([[0.0, 0, 5000], [300.0, 0, 5000]]), np.array([[0.0, 0, 3000]]), np.zeros((0, 3))]
    preds = [
        (np.array([[100.0, 0, 5000],     # score .9: nearest A (100 mm)           -> TP
                   [120.0, 0, 5000],     # score .8: nearest A (120 < 180 to B), A taken -> FP (no fallback to B)
                   [310.0, 0, 5000]]),   # score .7: nearest B (10 mm)             -> TP
         np.array([0.9, 0.8, 0.7])),
        (np.zeros((0, 3)), np.zeros(0)),
        (np.array([[0.0, 0, 5000]]), np.array([0.95])),    # image without GT: skipped, not a FP
    ]
    out = ap_root(preds, gts, threshold=250.0)
    # 3 valid GT. After TP, FP, TP: P = [1, 1/2, 2/3], R = [1/3, 1/3, 2/3].
    # RootNet: AP = P_1 (R_1 - R_0) + P_2 (R_2 - R_1) = 1/2 * 0 + 2/3 * 1/3 = 2/9.
    assert out["ap"] == pytest.approx(2 / 9 * 100)
    assert np.allclose(out["precision"], [1, 1 / 2, 2 / 3]) and np.allclose(out["recall"], [1 / 3, 1 / 3, 2 / 3])
    assert (out["num_gt"], out["num_tp"], out["num_fp"], out["num_skipped"]) == (3, 2, 1, 1)
    # with the first term P_0 R_0 = 1/3 added: 5/9
    assert ap_root(preds, gts, include_first_point=True)["ap"] == pytest.approx(5 / 9 * 100)
    # a distance of exactly 250 mm is not a TP
    at_thr = ap_root([(np.array([[250.0, 0, 3000], [0.0, 0, 3000]]), np.array([0.9, 0.8]))], [gts[1]])
    assert (at_thr["num_tp"], at_thr["num_fp"]) == (1, 1) and at_thr["ap"] == pytest.approx(50.0)


def test_match_poses_2d_official_rule():
    rng = np.random.default_rng(0)
    gt = rng.integers(100, 900, size=(2, 17, 2)).astype(np.float64)   # integers: exact 40 px offsets
    gt[1, :, 0] += 1000.0                                    # the two people stand apart
    far = gt[0] + np.array([41.0, 0.0])                      # every joint 41 px off: rejected
    near0 = gt[0] + np.array([39.9, -39.9])
    near1 = gt[1] + 10.0
    near1[0] += 500.0                                        # joint 1 (head-top, 1-based) is not a matching joint
    preds = np.stack([far, near1, near0])
    assert match_poses_2d(preds, gt).tolist() == [2, 1]
    assert match_poses_2d(preds[:1], gt).tolist() == [-1, -1]
    exactly40 = gt[0] + np.array([40.0, 0.0])
    assert match_poses_2d(exactly40[None], gt[:1]).tolist() == [-1]
    missing = np.zeros_like(gt[:1])                          # all joints at (0, 0) = not predicted
    assert match_poses_2d(missing, np.zeros_like(gt[:1])).tolist() == [-1]
    # greedy over GT: GT 0 takes the prediction agreeing on most joints, GT 1 gets the other one
    half = gt[0].copy()
    half[1:7] += 100.0
    both = np.stack([half, gt[0] + 1.0])
    assert match_poses_2d(both, np.stack([gt[0], gt[0]])).tolist() == [1, 0]
    assert match_poses_2d(np.zeros((0, 17, 2)), gt).tolist() == [-1, -1]


def test_rescale_to_gt_bone_lengths_official_traversal():
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=200.0, size=(17, 3))
    pred = rng.normal(scale=200.0, size=(17, 3))
    out = rescale_to_gt_bone_lengths(pred, gt)
    assert np.allclose(out[14], pred[14])                    # the root (pelvis) keeps its predicted position
    for j, parent in enumerate(MPI17_BONE_PARENTS):
        if j == parent:
            continue
        assert np.linalg.norm(out[j] - out[parent]) == pytest.approx(np.linalg.norm(gt[j] - gt[parent]))
        d_out = (out[j] - out[parent]) / np.linalg.norm(out[j] - out[parent])
        d_pred = (pred[j] - pred[parent]) / np.linalg.norm(pred[j] - pred[parent])
        assert np.allclose(d_out, d_pred)
    assert MPI17_BONE_PARENTS[0] == 1                        # official o1: head-top hangs from the neck
    # a uniformly scaled copy around the root comes back as the ground truth itself
    scaled = 1.7 * (gt - gt[14]) + gt[14]
    assert np.allclose(rescale_to_gt_bone_lengths(scaled, gt), gt)
    with pytest.raises(ValueError, match="before its parent"):
        rescale_to_gt_bone_lengths(pred, gt, traversal=[0, 1, 15])


def test_size_blind_oracle_and_within_threshold():
    """Equal sizes → the oracle is exact; a person 10 % larger is placed 10 % nearer along its ray (it is assumed
    to have the median size), so its error is 1/11 of its distance."""
    from posenet3d.metrics import size_blind_roots, within_threshold

    bones = [(0, 1), (1, 2)]
    base = np.array([[0.0, 0.0, 0.0], [0.0, 500.0, 0.0], [0.0, 900.0, 0.0]])
    gt_root = np.array([[100.0, 0.0, 3000.0], [-200.0, 50.0, 5000.0], [0.0, 0.0, 4000.0]])
    joints = np.stack([base, base, base]) + gt_root[:, None, :]
    assert np.allclose(size_blind_roots(gt_root, joints, bones), gt_root)
    joints[1] = base * 1.1 + gt_root[1]
    oracle = size_blind_roots(gt_root, joints, bones)
    assert np.allclose(oracle[[0, 2]], gt_root[[0, 2]])
    assert np.allclose(oracle[1], gt_root[1] / 1.1)
    err = np.linalg.norm(oracle - gt_root, axis=1)
    assert within_threshold(oracle, gt_root, threshold=float(err[1])) == pytest.approx(200 / 3)
    assert within_threshold(oracle, gt_root, threshold=float(err[1]) + 1e-6) == 100.0
    with pytest.raises(ValueError, match="gt_joints"):
        size_blind_roots(gt_root, joints[:, :, :2], bones)


def test_match_roots_greedy_closest_first_within_radius():
    from posenet3d.metrics import match_roots

    gt = np.array([[0.0, 0.0, 5000.0], [1000.0, 0.0, 5000.0], [0.0, 0.0, 9000.0]])
    pred = np.array([[900.0, 0.0, 5000.0], [100.0, 0.0, 5000.0], [0.0, 0.0, 5050.0], [0.0, 0.0, 7000.0]])
    # pred 2 is closest to gt 0 (50 mm), pred 0 to gt 1 (100 mm); pred 1 loses gt 0; gt 2 is 2 m from pred 3
    assert sorted(match_roots(pred, gt, 250.0)) == [(0, 1), (2, 0)]
    assert sorted(match_roots(pred, gt, 2000.0 + 1e-6)) == [(0, 1), (2, 0), (3, 2)]
    assert match_roots(pred, gt, 50.0) == []  # strict <
    assert match_roots(np.zeros((0, 3)), gt, 250.0) == []


def test_error_by_confidence_groups_equal_counts_lowest_first():
    from posenet3d.metrics import error_by_confidence
    conf = np.array([0.9, 0.1, 0.5, 0.2, 0.8, 0.3, np.nan])
    err = np.array([10.0, 100.0, 50.0, 90.0, 20.0, 70.0, 5.0])
    rows = error_by_confidence(err, conf, bins=3)
    assert [r["count"] for r in rows] == [2, 2, 2]  # the NaN pair is dropped
    assert [r["mean_err_mm"] for r in rows] == [95.0, 60.0, 15.0]
    assert rows[0]["conf_low"] == 0.1 and rows[-1]["conf_high"] == 0.9
    with pytest.raises(ValueError, match="3 errors but 2 confidences"):
        error_by_confidence(np.zeros(3), np.zeros(2))
