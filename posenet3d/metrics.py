"""Pure 3D pose metrics: numpy arrays in millimetres (or pixels where a name says ``_px``) in, numbers out.

Nothing here knows a dataset; the evaluators in :mod:`posenet3d.evaluation` choose joints, roots and averaging.
Frames: every 3D array is in one common frame (normally the camera frame, x right, y down, z forward); the
functions never assume which. Pose arrays are ``(N, J, 3)`` (N people or frames, J joints).

Definitions (``shared/reference/ecosystem.md`` §4):

* MPJPE — mean per-joint Euclidean error; root-relative when ``root_idx`` is given.
* alignments before the error is taken, per sample:
  ``'none'``; ``'scale'`` (N-MPJPE, s = <p, g> / <p, p>); ``'procrustes'`` (similarity transform: scale, rotation,
  translation — the field's PA-MPJPE, VideoPose3D/HMR); ``'rigid'`` (rotation + translation, no scale — what the
  3DMPPE code labels "PA MPJPE"). Reflections are never used unless asked for.
* 3DPCK — percentage of joint errors strictly below a threshold (150 mm); AUC — mean 3DPCK over 0, 5, …, 150 mm,
  so a perfect prediction scores 30/31 · 100 ≈ 96.77.
* MRPE — mean root position error, with per-axis mean absolute errors (RootNet).
* AP_root — RootNet's precision–recall AP of root positions at 250 mm, reproducing its quirks.
* MuPoTS-3D helpers: the official greedy 2D identity matching and the bone-length rescaling to ground truth.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ALIGNMENTS = ("none", "scale", "procrustes", "rigid")

#: AUC thresholds of the official MPI-INF-3DHP / MuPoTS-3D code (``thresh = 0:5:150``), mm.
AUC_THRESHOLDS_MM = np.arange(0.0, 151.0, 5.0)

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


# --------------------------------------------------------------------------------------------- input checks
def _poses(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, J, 3) in mm, got {a.shape}")
    return a


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p, g = _poses(pred, "pred"), _poses(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} must have the same shape (N, J, 3)")
    return p, g


def _joint_mask(mask, n: int, j: int) -> np.ndarray:
    """``mask`` ((J,) or (N, J), bool or 0/1; None = all joints) → (N, J) bool, every sample keeping a joint."""
    if mask is None:
        return np.ones((n, j), dtype=bool)
    m = np.asarray(mask)
    if m.shape not in ((j,), (n, j)):
        raise ValueError(f"mask must have shape ({j},) or ({n}, {j}), got {m.shape}")
    m = np.broadcast_to(m.astype(bool), (n, j))
    empty = np.flatnonzero(~m.any(axis=1))
    if empty.size:
        raise ValueError(f"mask leaves no joint for sample(s) {empty[:10].tolist()}")
    return m


# --------------------------------------------------------------------------------------------- alignment
def procrustes_align(pred: np.ndarray, gt: np.ndarray, scale: bool = True, allow_reflection: bool = False,
                     mask: np.ndarray | None = None) -> np.ndarray:
    """Align each predicted pose to its ground truth by the least-squares transform, per sample.

    Args:
        pred, gt: (N, J, 3) poses in mm, same frame.
        scale: True → similarity transform (s, R, t) — the field's PA-MPJPE (Umeyama closed form, as VideoPose3D
            ``p_mpjpe`` / HMR). False → rigid transform (R, t) with no scale — the 3DMPPE ``rigid_align``.
        allow_reflection: False (default) restricts R to rotations (det R = +1): when the best orthogonal map
            is a reflection, the direction of the smallest singular value is flipped.
        mask: (J,) or (N, J) joints that take part in the fit (None = all). Every joint is transformed.

    Returns:
        (N, J, 3) aligned prediction in mm, minimising Σ_j ||s·R·p_j + t − g_j||² over the masked joints.
    """
    p, g = _pair(pred, gt)
    w = _joint_mask(mask, p.shape[0], p.shape[1]).astype(np.float64)
    w = w / w.sum(axis=1, keepdims=True)                                   # (N, J), rows sum to 1
    mu_p = np.einsum("nj,njc->nc", w, p)[:, None]                           # (N, 1, 3)
    mu_g = np.einsum("nj,njc->nc", w, g)[:, None]
    p0, g0 = p - mu_p, g - mu_g
    cov = np.einsum("nj,nja,njb->nab", w, g0, p0)                           # (N, 3, 3) = Σ w g̃ p̃ᵀ
    u, s, vt = np.linalg.svd(cov)
    d = np.ones_like(s)
    if not allow_reflection:
        d[:, -1] = np.sign(np.linalg.det(u @ vt))
        d[d[:, -1] == 0, -1] = 1.0
    rot = u @ (d[:, :, None] * vt)                                          # (N, 3, 3), R = U D Vᵀ
    if scale:
        var_p = np.einsum("nj,njc->n", w, p0 ** 2)
        s_fit = np.divide((s * d).sum(axis=1), var_p, out=np.zeros_like(var_p), where=var_p > 0)
    else:
        s_fit = np.ones(p.shape[0])
    return s_fit[:, None, None] * np.einsum("nab,njb->nja", rot, p0) + mu_g


def _scale_align(p: np.ndarray, g: np.ndarray, m: np.ndarray) -> np.ndarray:
    """N-MPJPE alignment: scale each pose about the origin by s = <p, g> / <p, p> over the masked joints."""
    w = m.astype(np.float64)[:, :, None]
    num = (w * p * g).sum(axis=(1, 2))
    den = (w * p * p).sum(axis=(1, 2))
    s = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return s[:, None, None] * p


# --------------------------------------------------------------------------------------------- MPJPE
def joint_errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, alignment: str = "none",
                 root_idx: int | None = None, allow_reflection: bool = False) -> np.ndarray:
    """Per-joint Euclidean errors (N, J) in mm after optional root centring and alignment.

    ``root_idx``: subtract each pose's root joint from prediction and ground truth first (root-relative).
    ``alignment``: one of :data:`ALIGNMENTS` (see the module docstring); the fit uses the ``mask``ed joints.
    Joints outside ``mask`` still get an error (they are transformed too); :func:`mpjpe` leaves them out.
    """
    p, g = _pair(pred, gt)
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    m = _joint_mask(mask, p.shape[0], p.shape[1])
    if root_idx is not None:
        if not -p.shape[1] <= root_idx < p.shape[1]:
            raise ValueError(f"root_idx {root_idx} is out of range for {p.shape[1]} joints")
        p = p - p[:, [root_idx]]
        g = g - g[:, [root_idx]]
    if alignment == "scale":
        p = _scale_align(p, g, m)
    elif alignment in ("procrustes", "rigid"):
        p = procrustes_align(p, g, scale=alignment == "procrustes", allow_reflection=allow_reflection, mask=m)
    return np.linalg.norm(p - g, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, alignment: str = "none",
          root_idx: int | None = None, allow_reflection: bool = False) -> np.ndarray:
    """Mean per-joint position error of every sample, (N,) in mm.

    Args:
        pred, gt: (N, J, 3) in mm. mask: (J,) or (N, J) joints that count (and take part in the alignment).
        alignment: ``'none'`` (MPJPE), ``'scale'`` (N-MPJPE), ``'procrustes'`` (PA-MPJPE, similarity transform),
            ``'rigid'`` (3DMPPE "PA MPJPE": rotation + translation, no scale).
        root_idx: centre both poses on this joint first (root-relative MPJPE).
    Average the result with :func:`mean_error`.
    """
    err = joint_errors(pred, gt, mask, alignment, root_idx, allow_reflection)
    m = _joint_mask(mask, err.shape[0], err.shape[1])
    return (err * m).sum(axis=1) / m.sum(axis=1)


def mean_error(per_sample: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Average per-sample errors: over samples (``groups`` None, "frame-pooled"), or the mean of the per-group
    means (``groups`` (N,) labels, e.g. Human3.6M actions → "action-wise" average). Units are those given."""
    e = np.asarray(per_sample, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise ValueError("mean_error: no samples to average")
    if groups is None:
        return float(e.mean())
    gr = np.asarray(groups).reshape(-1)
    if gr.shape != e.shape:
        raise ValueError(f"groups {gr.shape} must match the per-sample errors {e.shape}")
    return float(np.mean([e[gr == k].mean() for k in np.unique(gr)]))


# --------------------------------------------------------------------------------------------- PCK / AUC
def _select_joints(errors_mm, joints: Sequence[int] | None) -> np.ndarray:
    e = np.asarray(errors_mm, dtype=np.float64)
    if joints is not None:
        if e.ndim < 1:
            raise ValueError("joints can only be selected from errors with a joint axis (last axis)")
        e = e[..., list(joints)]
    if e.size == 0:
        raise ValueError("no joint errors to score")
    return e


def pck3d(errors_mm: np.ndarray, threshold: float = 150.0, joints: Sequence[int] | None = None) -> float:
    """3DPCK in percent: share of joint errors (any shape, joints on the last axis, mm) strictly below
    ``threshold`` mm. ``joints`` selects a subset of the last axis by index. NaN errors count as wrong."""
    e = _select_joints(errors_mm, joints)
    return float(np.mean(e < threshold) * 100.0)


def auc3d(errors_mm: np.ndarray, thresholds: Sequence[float] | np.ndarray = AUC_THRESHOLDS_MM,
          joints: Sequence[int] | None = None) -> float:
    """Area under the 3DPCK curve in percent: mean of the strict 3DPCK over ``thresholds`` (mm; default
    0, 5, …, 150 as the official code, so the maximum is 30/31 · 100)."""
    e = _select_joints(errors_mm, joints)
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("auc3d needs at least one threshold")
    return float(np.mean(e.reshape(-1)[None, :] < t[:, None]) * 100.0)


# --------------------------------------------------------------------------------------------- roots
def mrpe(pred_root: np.ndarray, gt_root: np.ndarray) -> dict[str, float]:
    """Mean root position error (RootNet), mm in → mm out.

    ``pred_root``, ``gt_root``: (N, 3) root positions in one frame (camera frame). Returns
    ``{'mrpe': mean ||pred − gt||₂, 'x': mean |Δx|, 'y': mean |Δy|, 'z': mean |Δz|}``.
    """
    p = np.asarray(pred_root, dtype=np.float64)
    g = np.asarray(gt_root, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape != g.shape or p.shape[0] == 0:
        raise ValueError(f"pred_root {p.shape} and gt_root {g.shape} must both be (N, 3) with N > 0")
    d = p - g
    ax = np.abs(d).mean(axis=0)
    return {"mrpe": float(np.linalg.norm(d, axis=1).mean()), "x": float(ax[0]), "y": float(ax[1]),
            "z": float(ax[2])}


def within_threshold(pred_root: np.ndarray, gt_root: np.ndarray, threshold: float = 250.0) -> float:
    """Percentage of people whose root error ``||pred − gt||₂`` (mm) is strictly below ``threshold`` (mm): the
    recall of root matching at that radius when every person has one prediction."""
    p, g = np.asarray(pred_root, dtype=np.float64), np.asarray(gt_root, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape != g.shape or p.shape[0] == 0:
        raise ValueError(f"pred_root {p.shape} and gt_root {g.shape} must both be (N, 3) with N > 0")
    return float(np.mean(np.linalg.norm(p - g, axis=1) < threshold) * 100.0)


def size_blind_roots(gt_root: np.ndarray, gt_joints: np.ndarray, skeleton: Sequence[tuple[int, int]]) -> np.ndarray:
    """Roots (mm) of an oracle that is exact in everything except each person's size.

    A single image fixes a person only up to a scale along the viewing ray: a person ``s`` times taller at ``s``
    times the distance looks the same. This oracle knows the pose and the ray exactly but assumes everyone has the
    test set's median size, measured as the summed bone length ``L`` over ``skeleton`` of ``gt_joints (N, J, 3)``:
    its root is ``gt_root · median(L) / L_i``. Its MRPE estimates the floor that the spread of body sizes puts
    under any monocular root estimate that has no other scale cue.
    """
    g = np.asarray(gt_root, dtype=np.float64)
    j = np.asarray(gt_joints, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 3 or j.ndim != 3 or j.shape[0] != g.shape[0] or j.shape[2] != 3:
        raise ValueError(f"gt_root {g.shape} must be (N, 3) and gt_joints {j.shape} (N, J, 3)")
    a, b = np.asarray(skeleton, dtype=np.int64).T
    length = np.linalg.norm(j[:, a] - j[:, b], axis=2).sum(axis=1)
    if np.any(length <= 0):
        raise ValueError("size_blind_roots: a person has zero summed bone length")
    return g * (np.median(length) / length)[:, None]


def match_roots(pred_root: np.ndarray, gt_root: np.ndarray, radius_mm: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of predicted to ground-truth roots (mm, one frame) by 3D distance, closest pair
    first, only pairs strictly closer than ``radius_mm``. Returns ``[(pred index, gt index), ...]``."""
    p = np.asarray(pred_root, dtype=np.float64).reshape(-1, 3)
    g = np.asarray(gt_root, dtype=np.float64).reshape(-1, 3)
    if len(p) == 0 or len(g) == 0:
        return []
    d = np.linalg.norm(p[:, None] - g[None], axis=2)
    pairs: list[tuple[int, int]] = []
    used_p, used_g = set(), set()
    for i, j in zip(*np.unravel_index(np.argsort(d, axis=None, kind="stable"), d.shape)):
        if d[i, j] >= radius_mm:
            break
        if i not in used_p and j not in used_g:
            pairs.append((int(i), int(j)))
            used_p.add(i)
            used_g.add(j)
    return pairs


def ap_root(preds: Sequence[tuple[np.ndarray, np.ndarray]], gts: Sequence[np.ndarray], threshold: float = 250.0,
            include_first_point: bool = False) -> dict:
    """AP of root positions, reproducing RootNet's ``MuPoTS_eval.calculate_score`` (quirks included).

    Args:
        preds: per image, ``(roots (P, 3) mm, scores (P,))`` — the detected people's root positions and scores.
        gts: per image (same order and length as ``preds``), the *valid* ground-truth roots (G, 3) mm.
        threshold: distance in mm below which (strictly) a prediction can be a true positive (250 = AP^25).
        include_first_point: False reproduces RootNet, whose sum starts at the second point (P_0·R_0 is left
            out); True adds that first term.

    Procedure: all predictions of all images are sorted by score, descending (stable: ties keep input order,
    image by image). Predictions of images without valid GT are skipped (neither TP nor FP). Each other
    prediction takes the nearest GT of its image in 3D (the first one on ties); it is a TP if that distance is
    < ``threshold`` and that GT is not matched yet, else a FP — there is no fallback to the second-nearest GT,
    and no interpolation of the curve. After each counted prediction n: P_n = TP/(TP+FP),
    R_n = TP / #valid GT of all images. AP = Σ_{n≥1} P_n (R_n − R_{n−1}).

    Returns dict: ``ap`` (percent), ``precision`` and ``recall`` (arrays over the counted predictions, as
    fractions), ``num_gt``, ``num_tp``, ``num_fp``, ``num_skipped`` (predictions on images without GT).
    """
    if len(preds) != len(gts):
        raise ValueError(f"ap_root: {len(preds)} prediction images but {len(gts)} ground-truth images")
    roots, scores, images = [], [], []
    for i, pair in enumerate(preds):
        try:
            r, s = pair
        except (TypeError, ValueError):
            raise ValueError(f"ap_root: image {i} predictions must be a pair (roots (P, 3), scores (P,))") from None
        r = np.asarray(r, dtype=np.float64).reshape(-1, 3) if np.size(r) else np.zeros((0, 3))
        s = np.asarray(s, dtype=np.float64).reshape(-1)
        if r.shape[0] != s.shape[0]:
            raise ValueError(f"ap_root: image {i} has {r.shape[0]} roots but {s.shape[0]} scores")
        roots.append(r)
        scores.append(s)
        images.append(np.full(r.shape[0], i, dtype=np.int64))
    return ap_root_ranked(np.concatenate(roots) if roots else np.zeros((0, 3)),
                          np.concatenate(scores) if scores else np.zeros(0),
                          np.concatenate(images) if images else np.zeros(0, dtype=np.int64),
                          gts, threshold, include_first_point)


def ap_root_ranked(roots: np.ndarray, scores: np.ndarray, image_index: np.ndarray, gts: Sequence[np.ndarray],
                   threshold: float = 250.0, include_first_point: bool = False) -> dict:
    """:func:`ap_root` on a flat list of predictions, whose order decides score ties (as RootNet's result list).

    ``roots`` (M, 3) mm, ``scores`` (M,), ``image_index`` (M,) int index into ``gts`` (per image valid GT
    roots (G, 3) mm). Same procedure and return value as :func:`ap_root`.
    """
    r = np.asarray(roots, dtype=np.float64).reshape(-1, 3)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    im = np.asarray(image_index).reshape(-1)
    if not (r.shape[0] == s.shape[0] == im.shape[0]):
        raise ValueError(f"ap_root: {r.shape[0]} roots, {s.shape[0]} scores and {im.shape[0]} image indices")
    if np.isnan(s).any():
        raise ValueError(f"ap_root: score of prediction {int(np.flatnonzero(np.isnan(s))[0])} is NaN")
    if im.size and (im.min() < 0 or im.max() >= len(gts)):
        raise ValueError(f"ap_root: image indices must be in 0..{len(gts) - 1}")
    gt_arrays = [np.asarray(g, dtype=np.float64).reshape(-1, 3) if np.size(g) else np.zeros((0, 3)) for g in gts]
    num_gt = int(sum(g.shape[0] for g in gt_arrays))
    if num_gt == 0:
        raise ValueError("ap_root: there is no valid ground-truth root")
    matched = [np.zeros(g.shape[0], dtype=bool) for g in gt_arrays]
    tp = fp = skipped = 0
    precision, recall = [], []
    for n in np.argsort(-s, kind="stable"):
        img = int(im[n])
        g = gt_arrays[img]
        if g.shape[0] == 0:
            skipped += 1
            continue
        dist = np.linalg.norm(g - r[n], axis=1)
        k = int(np.argmin(dist))
        if dist[k] < threshold and not matched[img][k]:
            matched[img][k] = True
            tp += 1
        else:
            fp += 1
        precision.append(tp / (tp + fp))
        recall.append(tp / num_gt)
    prec, rec = np.asarray(precision, dtype=np.float64), np.asarray(recall, dtype=np.float64)
    ap = float(np.sum(prec[1:] * (rec[1:] - rec[:-1]))) if prec.size else 0.0
    if include_first_point and prec.size:
        ap += float(prec[0] * rec[0])
    return {"ap": ap * 100.0, "precision": prec, "recall": rec, "num_gt": num_gt, "num_tp": tp, "num_fp": fp,
            "num_skipped": skipped}


# --------------------------------------------------------------------------------------------- MuPoTS-3D helpers
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
