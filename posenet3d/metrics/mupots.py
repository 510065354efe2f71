"""The two pose-level steps of the official MuPoTS-3D evaluation: greedy 2D identity matching of predictions to
ground-truth people (px), and rescaling a predicted pose to the ground truth's bone lengths (mm).

Joint indices are 0-based into the 17-joint MPI order (= :data:`posenet3d.skeletons.MUPOTS` order); the
official MATLAB code's 1-based values are quoted where they were translated.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Official MuPoTS matching joints: MPI joints 2..14 (1-based; neck to ankles) as 0-based indices into the
#: MPI-17 order (= :data:`posenet3d.skeletons.MUPOTS` order).
MUPOTS_MATCHING_JOINTS = tuple(range(1, 14))

#: Parent of every joint of the MPI-17 order (0-based), the official ``o1`` of ``mpii_get_joints('relevant')``
#: (1-based there: [2 16 2 3 4 2 6 7 15 9 10 15 12 13 15 15 2]). Note head-top's parent is the neck (Thorax),
#: not the head as in the drawing skeleton :data:`posenet3d.skeletons.MUPOTS`; the pelvis is its own parent.
MPI17_BONE_PARENTS = (1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, 14, 14, 1)

#: The official ``safe_traversal_order`` [15, 16, 2, 1, 17, 3, 4, 5, 6, 7, 8, 9:14] (1-based) as 0-based
#: indices. Its first entry is the root (pelvis); the official call passes ``safe_traversal_order(2:end)``,
#: and so does :func:`rescale_to_gt_bone_lengths` (the root, being its own parent, is skipped).
MPI17_SAFE_TRAVERSAL = (14, 15, 1, 0, 16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)


def match_poses_2d(pred_2d: np.ndarray, gt_2d: np.ndarray, joints: Sequence[int] = MUPOTS_MATCHING_JOINTS,
                   threshold_px: float = 40.0) -> np.ndarray:
    """Official MuPoTS-3D identity matching (``mpii_multiperson_get_identity_matching``), greedy over GT.

    Args:
        pred_2d: (P, J, 2) predicted 2D joints in px; a joint at exactly (0, 0) counts as missing.
        gt_2d: (G, J, 2) ground-truth 2D joints in px (all GT joints count as visible, as the official call).
        joints: joint indices used for matching (default MPI joints 2..14, 1-based: neck to ankles).
        threshold_px: a joint agrees when max(|dx|, |dy|) < threshold_px (strict).

    For each GT person in order, among the predictions not matched yet, take the one with the most agreeing,
    non-missing joints (the first on ties); it needs at least one. Returns (G,) int: the matched prediction
    index for each GT person, or −1.
    """
    p = np.asarray(pred_2d, dtype=np.float64)
    g = np.asarray(gt_2d, dtype=np.float64)
    if g.size == 0:
        return np.zeros(0, dtype=np.int64)
    if p.size == 0 and g.ndim == 3:
        p = np.zeros((0,) + g.shape[1:])
    if g.ndim != 3 or g.shape[-1] != 2 or p.ndim != 3 or p.shape[1:] != g.shape[1:]:
        raise ValueError(f"pred_2d {p.shape} and gt_2d {g.shape} must be (P, J, 2) and (G, J, 2) px")
    idx = list(joints)
    p, g = p[:, idx], g[:, idx]
    present = np.any(p != 0, axis=-1)                                          # (P, K)
    close = np.max(np.abs(g[:, None] - p[None]), axis=-1) < threshold_px      # (G, P, K)
    counts = np.count_nonzero(close & present[None], axis=-1)                  # (G, P)
    result = np.full(g.shape[0], -1, dtype=np.int64)
    taken = np.zeros(p.shape[0], dtype=bool)
    for gi in range(g.shape[0]):
        best, best_count = -1, 0
        for pi in range(p.shape[0]):
            if not taken[pi] and counts[gi, pi] > best_count:
                best, best_count = pi, counts[gi, pi]
        if best >= 0:
            result[gi] = best
            taken[best] = True
    return result


def rescale_to_gt_bone_lengths(pred: np.ndarray, gt: np.ndarray,
                               traversal: Sequence[int] = MPI17_SAFE_TRAVERSAL,
                               parents: Sequence[int] = MPI17_BONE_PARENTS) -> np.ndarray:
    """Give a predicted pose the ground truth's bone lengths, keeping the predicted bone directions.

    This is the official ``mpii_map_to_gt_bone_lengths(pred, gt, o1, safe_traversal_order(2:end))`` of the
    MuPoTS-3D evaluation, 0-based: ``mapped = pred``; then for each joint j of ``traversal`` except a joint that
    is its own parent (the root, first in the official order, is skipped so it keeps its predicted position):
    ``v = pred[j] − pred[parents[j]]``, ``mapped[j] = mapped[parents[j]] + v · |gt[j] − gt[parents[j]]| / |v|``.
    The bone vector comes from the *original* prediction and is attached to the *already mapped* parent, so
    ``traversal`` must list a parent before its children (a parent left out keeps its predicted position).
    Defaults: MPI-17 (= MuPoTS) order, the official
    ``safe_traversal_order`` [15, 16, 2, 1, 17, 3, 4, 5, 6, 7, 8, 9:14] (1-based) and the official parents
    ``o1`` (:data:`MPI17_BONE_PARENTS`; head-top hangs from the neck). A zero-length predicted bone gives NaN
    for that joint and its descendants, as in the official code (a NaN error never counts as correct).

    Args: pred, gt: (J, 3) poses in mm (same frame, both root-relative or both absolute).
    Returns: (J, 3) rescaled prediction in mm.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} must both be (J, 3) in mm")
    par = list(parents)
    if len(par) != p.shape[0]:
        raise ValueError(f"parents has {len(par)} entries for {p.shape[0]} joints")
    order = [int(j) for j in traversal]
    position = {j: i for i, j in enumerate(order)}
    for i, j in enumerate(order):
        if not 0 <= j < p.shape[0]:
            raise ValueError(f"traversal joint {j} is out of range for {p.shape[0]} joints")
        if par[j] != j and position.get(par[j], -1) > i:
            raise ValueError(f"traversal visits joint {j} before its parent {par[j]}")
    mapped = p.copy()
    for j in order:
        if par[j] == j:
            continue
        v = p[j] - p[par[j]]
        with np.errstate(divide="ignore", invalid="ignore"):
            mapped[j] = mapped[par[j]] + v * (np.linalg.norm(g[j] - g[par[j]]) / np.linalg.norm(v))
    return mapped
