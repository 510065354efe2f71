"""Parametric pose NMS (RMPE, Fang et al. ICCV'17) as in AlphaPose's ``pose_nms`` for body keypoints.

This is the body (17-keypoint-tuned) variant with AlphaPose's module constants (:class:`PoseNMSParams`
defaults; the whole-body overrides are not used):

===============  =======  ===========================================================================
``delta1``       1        σ1, softness of the keypoint-score term
``mu``           1.7      λ, weight of the spatial term
``delta2``       2.65     σ2, spatial distance scale (px)
``gamma``        22.48    η, elimination threshold on the parametric distance
``score_thresh`` 0.3      a kept pose needs a keypoint score ≥ this (before and after merging)
``match_thresh`` 5        this many matching keypoints force elimination
``alpha``        0.1      reference distance = α · max(box w, box h) px
caps             7, 15    the reference distance is capped at 7 px for matching and 15 px for merging
``min_box_area`` 0        ``areaThres``: drop a merged pose whose 1.5² · keypoint-extent area is below it
===============  =======  ===========================================================================

Procedure (all distances in image px, per keypoint ``k``):

1. Zero keypoint scores become 1e-5; ``ref_i = α · max(w_i, h_i)``; person score ``h_i = mean_k s_ik``.
2. Greedy: pick the remaining candidate ``p`` with the highest ``h`` (ties: higher box score, then lower
   index — AlphaPose takes the first maximum). For every remaining ``j`` (``p`` included)
   ``d(p, j) = Σ_k tanh(s_pk/σ1)·tanh(s_jk/σ1)·[‖x_pk − x_jk‖ ≤ 1] + λ·Σ_k exp(−‖x_pk − x_jk‖/σ2)``
   (distance not squared) and ``n(p, j) = #{k : ‖x_pk − x_jk‖ ≤ min(ref_p, 7)}``. Every ``j`` with
   ``d > η`` or ``n ≥ 5`` is removed and joins ``p``'s cluster (``p`` always does).
3. For each pick: skip it if ``max_k s_pk < 0.3``; merge its cluster per keypoint over the members within
   ``r = min(ref_p, 15)`` px of the pick's keypoint: ``x̂ = Σ s·x / Σ s``, ``ŝ = Σ s² / Σ s``; skip if
   ``max ŝ < 0.3`` or ``1.5² · (x̂ extent w · h) < min_box_area``.
4. The proposal score of a kept pose is ``mean(ŝ) + box score + 1.25 · max(ŝ)`` (AlphaPose's ``score``).

Note on the constants: if all 17 keypoints of two poses are more than 1 px apart,
``d ≤ 17 · 1.7 · e^(−1/2.65) ≈ 19.8 < η``, so such a pose is removed only by the match count; η acts on
poses with keypoints within 1 px of the pick's. The constants were tuned for COCO's 17 keypoints and are used
unchanged for other joint counts (with 21 keypoints the bound above becomes ≈ 24.5, so η can then act alone).

Without keypoint confidences (PoseNet's soft-argmax gives none) pass ``keypoint_scores=None``: all scores
are 1, so every ``h`` ties and picks go by box score; each coincident keypoint adds tanh(1)² ≈ 0.58 to ``d``;
the score thresholds never remove a pose; merged keypoints are the plain mean of the cluster members
within ``r``; merged scores are 1 and the proposal score is ``2.25 + box score``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PoseNMSParams:
    """AlphaPose's body pose-NMS constants (see the module docstring for their roles)."""

    delta1: float = 1.0
    mu: float = 1.7
    delta2: float = 2.65
    gamma: float = 22.48
    score_thresh: float = 0.3
    match_thresh: int = 5
    alpha: float = 0.1
    match_dist_cap_px: float = 7.0
    merge_dist_cap_px: float = 15.0
    zero_score: float = 1e-5


@dataclass
class PoseNMSResult:
    """Kept poses in pick order.

    Attributes:
        keep: (M,) int64 indices into the input of the kept picks.
        keypoints_px: (M, K, 2) merged keypoints (image px).
        keypoint_scores: (M, K) merged keypoint scores.
        proposal_scores: (M,) ``mean(ŝ) + box score + 1.25 · max(ŝ)``.
        clusters: M int64 arrays: the input indices each kept pose suppressed (its pick included).
    """

    keep: np.ndarray
    keypoints_px: np.ndarray
    keypoint_scores: np.ndarray
    proposal_scores: np.ndarray
    clusters: list[np.ndarray] = field(default_factory=list)


def parametric_pose_distance(pick_kpts_px: np.ndarray, pick_scores: np.ndarray, kpts_px: np.ndarray,
                             scores: np.ndarray, params: PoseNMSParams = PoseNMSParams()) -> np.ndarray:
    """RMPE pose distance ``d(p, j)`` between one pose ``(K, 2)``/``(K,)`` and ``N`` poses ``(N, K, 2)``/``(N, K)``.

    ``Σ_k tanh(s_p/σ1)·tanh(s_j/σ1)·[dist ≤ 1 px] + μ·Σ_k exp(−dist/σ2)``, dist in px; returns ``(N,)``.
    Larger means more similar.
    """
    dist = np.linalg.norm(kpts_px - pick_kpts_px[None], axis=-1)
    score_term = np.tanh(pick_scores[None] / params.delta1) * np.tanh(scores / params.delta1)
    score_sim = np.where(dist <= 1.0, score_term, 0.0).sum(axis=1)
    spatial_sim = np.exp(-dist / params.delta2).sum(axis=1)
    return score_sim + params.mu * spatial_sim


def num_matched_keypoints(pick_kpts_px: np.ndarray, kpts_px: np.ndarray, ref_dist_px: float,
                          params: PoseNMSParams = PoseNMSParams()) -> np.ndarray:
    """``(N,)`` count of keypoints of each pose within ``min(ref_dist_px, 7)`` px of the pick's keypoint."""
    radius = min(float(ref_dist_px), params.match_dist_cap_px)
    dist = np.linalg.norm(kpts_px - pick_kpts_px[None], axis=-1)
    return (dist <= radius).sum(axis=1)


def merge_cluster(pick_kpts_px: np.ndarray, ref_dist_px: float, cluster_kpts_px: np.ndarray,
                  cluster_scores: np.ndarray, params: PoseNMSParams = PoseNMSParams()
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Score-weighted merge of a cluster ``(C, K, 2)``/``(C, K)`` around its pick (which it must contain).

    Per keypoint, members within ``min(ref_dist_px, 15)`` px of the pick's keypoint count:
    ``x̂ = Σ s·x / Σ s`` and ``ŝ = Σ s² / Σ s``. Returns ``((K, 2) px, (K,))``.
    """
    radius = min(float(ref_dist_px), params.merge_dist_cap_px)
    dist = np.linalg.norm(cluster_kpts_px - pick_kpts_px[None], axis=-1)
    weights = np.where(dist <= radius, cluster_scores, 0.0)
    total = weights.sum(axis=0)
    if np.any(total <= 0):
        raise ValueError("merge_cluster: the cluster must contain the pick with positive keypoint scores")
    norm = weights / total
    merged = (cluster_kpts_px * norm[..., None]).sum(axis=0)
    merged_scores = (weights * norm).sum(axis=0)
    return merged, merged_scores


def _check_inputs(boxes_xywh, box_scores, keypoints_px, keypoint_scores):
    boxes = np.asarray(boxes_xywh, dtype=np.float64)
    n = boxes.shape[0] if boxes.ndim >= 1 else -1
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
            n = 0
        else:
            raise ValueError(f"pose_nms: boxes_xywh must have shape (N, 4), got {boxes.shape}")
    box_scores = np.asarray(box_scores, dtype=np.float64).reshape(-1)
    if box_scores.shape[0] != n:
        raise ValueError(f"pose_nms: box_scores has {box_scores.shape[0]} entries for {n} boxes")
    kpts = np.asarray(keypoints_px, dtype=np.float64)
    if n == 0 and kpts.size == 0 and kpts.ndim != 3:
        kpts = kpts.reshape(0, 0, 2)
    if kpts.ndim != 3 or kpts.shape[0] != n or kpts.shape[2] != 2:
        raise ValueError(f"pose_nms: keypoints_px must have shape ({n}, K, 2), got {kpts.shape}")
    if keypoint_scores is None:
        scores = np.ones(kpts.shape[:2], dtype=np.float64)
    else:
        scores = np.asarray(keypoint_scores, dtype=np.float64)
        if scores.shape == kpts.shape[:2] + (1,):
            scores = scores[..., 0]
        if scores.shape != kpts.shape[:2]:
            raise ValueError(f"pose_nms: keypoint_scores must have shape {kpts.shape[:2]}, got {scores.shape}")
    for name, arr in (("boxes_xywh", boxes), ("box_scores", box_scores), ("keypoints_px", kpts),
                      ("keypoint_scores", scores)):
        if not np.isfinite(arr).all():
            raise ValueError(f"pose_nms: {name} contains non-finite values")
    if (boxes[:, 2:] < 0).any():
        raise ValueError("pose_nms: boxes_xywh has a negative width or height")
    if (scores < 0).any():
        raise ValueError("pose_nms: keypoint_scores must be non-negative")
    return boxes, box_scores, kpts, scores


def pose_nms(boxes_xywh: np.ndarray, box_scores: np.ndarray, keypoints_px: np.ndarray,
             keypoint_scores: np.ndarray | None = None, *, min_box_area: float = 0.0,
             params: PoseNMSParams = PoseNMSParams()) -> PoseNMSResult:
    """AlphaPose parametric pose NMS over ``N`` candidate poses of one image (see the module docstring).

    Args:
        boxes_xywh: (N, 4) detector boxes ``[x, y, w, h]`` px (only w and h are used: reference distance).
        box_scores: (N,) detector scores.
        keypoints_px: (N, K, 2) keypoints in image px.
        keypoint_scores: (N, K) (or (N, K, 1)) non-negative confidences, or None for all ones.
        min_box_area: AlphaPose's ``areaThres`` (px²) on 1.5² × the merged pose's keypoint extent.
        params: the constants; the defaults are AlphaPose's body values.
    """
    boxes, box_scores, kpts, scores = _check_inputs(boxes_xywh, box_scores, keypoints_px, keypoint_scores)
    n, k = kpts.shape[:2]
    if n == 0 or k == 0:
        return PoseNMSResult(keep=np.zeros(0, dtype=np.int64), keypoints_px=np.zeros((0, k, 2)),
                             keypoint_scores=np.zeros((0, k)), proposal_scores=np.zeros(0), clusters=[])
    scores = np.where(scores == 0, params.zero_score, scores)
    ref_dist = params.alpha * np.maximum(boxes[:, 2], boxes[:, 3])
    human_scores = scores.mean(axis=1)

    picks: list[int] = []
    clusters: list[np.ndarray] = []
    remaining = np.arange(n)
    while remaining.size:
        # lexsort: last key is primary → highest person score, then highest box score, then lowest index
        best = int(np.lexsort((remaining, -box_scores[remaining], -human_scores[remaining]))[0])
        p = int(remaining[best])
        dist = parametric_pose_distance(kpts[p], scores[p], kpts[remaining], scores[remaining], params)
        matches = num_matched_keypoints(kpts[p], kpts[remaining], ref_dist[p], params)
        eliminate = (dist > params.gamma) | (matches >= params.match_thresh)
        eliminate[best] = True
        picks.append(p)
        clusters.append(remaining[eliminate].astype(np.int64))
        remaining = remaining[~eliminate]

    keep, out_kpts, out_scores, proposals, out_clusters = [], [], [], [], []
    for p, cluster in zip(picks, clusters):
        if scores[p].max() < params.score_thresh:
            continue
        merged, merged_scores = merge_cluster(kpts[p], ref_dist[p], kpts[cluster], scores[cluster], params)
        if merged_scores.max() < params.score_thresh:
            continue
        extent = merged.max(axis=0) - merged.min(axis=0)
        if 1.5 ** 2 * extent[0] * extent[1] < min_box_area:
            continue
        keep.append(p)
        out_kpts.append(merged)
        out_scores.append(merged_scores)
        proposals.append(merged_scores.mean() + box_scores[p] + 1.25 * merged_scores.max())
        out_clusters.append(cluster)
    if not keep:
        return PoseNMSResult(keep=np.zeros(0, dtype=np.int64), keypoints_px=np.zeros((0, k, 2)),
                             keypoint_scores=np.zeros((0, k)), proposal_scores=np.zeros(0), clusters=[])
    return PoseNMSResult(keep=np.asarray(keep, dtype=np.int64), keypoints_px=np.stack(out_kpts),
                         keypoint_scores=np.stack(out_scores), proposal_scores=np.asarray(proposals),
                         clusters=out_clusters)
