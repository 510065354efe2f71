"""Tests for posenet3d.pose_nms: AlphaPose parametric pose NMS with its body constants."""
from __future__ import annotations

import math

import numpy as np
import pytest

from posenet3d.pose_nms import PoseNMSParams, merge_cluster, num_matched_keypoints, parametric_pose_distance, pose_nms

K = 17
TANH1_SQ = math.tanh(1.0) ** 2


def _pose(offset=(0.0, 0.0), seed=0, size=200.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, size, size=(K, 2)) + np.asarray(offset)


def _run(pose_a, pose_b, box_side=200.0, scores=(0.9, 0.8), kp_scores=None):
    boxes = np.array([[0.0, 0.0, box_side, box_side]] * 2)
    return pose_nms(boxes, np.array(scores), np.stack([pose_a, pose_b]), kp_scores)


def test_near_identical_poses_keep_the_higher_score_and_merge():
    a = _pose()
    b = a + np.random.default_rng(1).uniform(-0.5, 0.5, size=a.shape)
    res = _run(a, b, scores=(0.6, 0.95))
    assert res.keep.tolist() == [1]
    assert sorted(res.clusters[0].tolist()) == [0, 1]
    assert np.allclose(res.keypoints_px[0], (a + b) / 2)  # all-ones scores: plain mean within the radius
    assert np.allclose(res.keypoint_scores[0], 1.0)
    assert res.proposal_scores[0] == pytest.approx(1.0 + 0.95 + 1.25)


def test_distant_poses_are_both_kept_in_score_order():
    a = _pose()
    b = _pose(offset=(400.0, 0.0), seed=2)
    res = _run(a, b, scores=(0.5, 0.9))
    assert res.keep.tolist() == [1, 0]
    assert np.allclose(res.keypoints_px[0], b) and np.allclose(res.keypoints_px[1], a)


@pytest.mark.parametrize("n_same, suppressed", [(4, False), (5, True)])
def test_match_count_threshold(n_same, suppressed):
    a = _pose()
    b = a + 500.0
    b[:n_same] = a[:n_same]
    # parametric distance stays far below gamma: n · (tanh(1)² + 1.7) = 9.1 / 11.4
    d = parametric_pose_distance(a, np.ones(K), b[None], np.ones((1, K)))[0]
    assert d == pytest.approx(n_same * (TANH1_SQ + 1.7), rel=1e-6)
    assert d < PoseNMSParams().gamma
    res = _run(a, b)
    assert res.keep.tolist() == ([0] if suppressed else [0, 1])


@pytest.mark.parametrize("box_side, shift, suppressed", [
    (200.0, 6.9, True), (200.0, 7.1, False),   # ref = 0.1·200 = 20 px, capped at 7 px
    (40.0, 3.9, True), (40.0, 4.1, False),     # ref = 0.1·40 = 4 px
])
def test_match_radius_depends_on_box_size(box_side, shift, suppressed):
    a = _pose(size=box_side)
    b = a + 500.0
    b[:5] = a[:5] + np.array([shift, 0.0])
    assert num_matched_keypoints(a, b[None], 0.1 * box_side)[0] == (5 if suppressed else 0)
    res = _run(a, b, box_side=box_side)
    assert res.keep.tolist() == ([0] if suppressed else [0, 1])


@pytest.mark.parametrize("shift, suppressed", [(0.9, True), (1.1, False)])
def test_gamma_threshold_on_parametric_distance(shift, suppressed):
    # 5 px boxes → match radius 0.5 px, so no keypoint matches and only d > gamma can suppress
    a = _pose(size=5.0)
    b = a + np.array([shift, 0.0])
    assert num_matched_keypoints(a, b[None], 0.5)[0] == 0
    d = parametric_pose_distance(a, np.ones(K), b[None], np.ones((1, K)))[0]
    expected = K * ((TANH1_SQ if shift <= 1.0 else 0.0) + 1.7 * math.exp(-shift / 2.65))
    assert d == pytest.approx(expected, rel=1e-6)
    assert (d > 22.48) == suppressed  # 30.4 vs 19.1
    res = _run(a, b, box_side=5.0)
    assert res.keep.tolist() == ([0] if suppressed else [0, 1])


def test_parametric_distance_uses_keypoint_scores():
    a = _pose()
    b = a.copy()
    b[1:] += 1000.0
    sa, sb = np.full(K, 0.5), np.full(K, 2.0)
    d = parametric_pose_distance(a, sa, b[None], sb[None])[0]
    assert d == pytest.approx(math.tanh(0.5) * math.tanh(2.0) + 1.7 * (1.0 + 16 * math.exp(-1000.0 / 2.65)))


def test_score_thresholds_and_weighted_merge():
    a = _pose()
    b = a + 0.2
    kp = np.stack([np.full(K, 0.9), np.full(K, 0.3)])
    merged, merged_s = merge_cluster(a, 20.0, np.stack([a, b]), kp)
    assert np.allclose(merged, (0.9 * a + 0.3 * b) / 1.2)
    assert np.allclose(merged_s, (0.81 + 0.09) / 1.2)
    # a lone pose whose best keypoint score is below 0.3 is dropped
    far = _pose(offset=(1000.0, 0.0), seed=3)
    res = pose_nms(np.array([[0, 0, 200, 200], [1000, 0, 200, 200]], float), np.array([0.9, 0.9]),
                   np.stack([a, far]), np.stack([np.full(K, 0.8), np.full(K, 0.2)]))
    assert res.keep.tolist() == [0]


def test_min_box_area_filter():
    a = _pose(size=10.0)  # keypoint extent ≤ 10 × 10 px → 1.5² · area ≤ 225 px²
    boxes = np.array([[0.0, 0.0, 10.0, 10.0]])
    assert pose_nms(boxes, np.array([0.9]), a[None]).keep.tolist() == [0]
    assert pose_nms(boxes, np.array([0.9]), a[None], min_box_area=300.0).keep.tolist() == []


def test_empty_input_and_bad_input():
    res = pose_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, K, 2)))
    assert res.keep.shape == (0,) and res.keypoints_px.shape == (0, K, 2) and res.clusters == []
    assert pose_nms([], [], []).keep.size == 0
    with pytest.raises(ValueError, match="box_scores"):
        pose_nms(np.zeros((2, 4)), np.zeros(3), np.zeros((2, K, 2)))
    with pytest.raises(ValueError, match="keypoints_px"):
        pose_nms(np.zeros((2, 4)), np.zeros(2), np.zeros((2, K, 3)))
    with pytest.raises(ValueError, match="keypoint_scores"):
        pose_nms(np.zeros((1, 4)), np.zeros(1), np.zeros((1, K, 2)), -np.ones((1, K)))
