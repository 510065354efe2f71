"""Root metrics (RootNet): root position errors, recall within a radius, root matching and AP_root.

Roots are ``(N, 3)`` positions in mm in one frame (the camera frame). MRPE is the mean root position error with
per-axis mean absolute errors; AP_root is RootNet's precision–recall AP of root positions at 250 mm, with its
quirks reproduced so the numbers compare with the published ones.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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

