"""Video metrics: tracking (CLEAR MOT's MOTA, the ID measures' IDF1/IDP/IDR, ID switches) and temporal pose quality
(acceleration error, jitter; MPJPE and MRPE come from :mod:`posenet3d.metrics`). Arrays in mm, numbers out;
nothing here knows a dataset or a file.

**Matching by 3D root distance.** Ground-truth people and predictions are paired per frame by the Euclidean
distance of their 3D roots (camera frame, mm); a pair is allowed when the distance is ≤ ``threshold_mm``
(default 500 mm, about a body width: two people are rarely closer, and RootNet's depth error is below it for most
people). 3D roots are what this toolkit predicts; box IoU would hide depth errors.

**Tracking metrics**, following the definitions that ``motmetrics`` 1.4.0 implements (``MOTAccumulator.update``,
after Bernardin & Stiefelhagen 2008; ``id_global_assignment``, after Ristani et al. 2016):

* per frame, a ground-truth person keeps its previous hypothesis if that id is present and within the threshold;
  the rest are paired by :func:`scipy.optimize.linear_sum_assignment` on the distances (pairs over the threshold
  not allowed). A pairing is an **ID switch** when the person's last paired hypothesis (in any earlier frame)
  was another id. Unpaired ground truth counts as a miss (**FN**), unpaired predictions as **FP**.
* **MOTA** = 1 − (FN + FP + IDSW) / GT, GT = the number of ground-truth person-frames.
* **IDF1**: one global one-to-one assignment of ground-truth ids to predicted ids maximising IDTP, the number of
  frames in which the paired ids are both present and within the threshold (every such frame counts, whether or
  not the per-frame pairing above chose them); IDFN = GT − IDTP, IDFP = (predicted person-frames) − IDTP;
  IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN), IDP = IDTP / (IDTP + IDFP), IDR = IDTP / (IDTP + IDFN).
* **MOTP** (here): the mean root distance in mm of the per-frame pairs.

``motmetrics`` needs pandas, which this package does not depend on; ``tests/test_video_metrics.py`` checks these
functions on hand-computed fixtures, and against ``motmetrics`` where it is installed.

**Temporal pose metrics** (HMMR → VIBE → SmoothNet): with ``Δ²x_t = x_{t−1} − 2·x_t + x_{t+1}`` (mm/frame²),
the **acceleration error** is the mean over the T − 2 inner frames and the joints of ‖Δ²pred_t − Δ²gt_t‖, and
**jitter** (no ground truth needed) the mean of ‖Δ²pred_t‖. Both depend on the frame rate.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from posenet3d import metrics
from posenet3d.tracking import box_iou_xywh

_FAR = 1e12   # cost of a forbidden pair in the assignment; real distances are far below


def _frames(ids: Sequence, roots: Sequence, who: str, dims: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for t, (i, r) in enumerate(zip(ids, roots)):
        if any(x is None for x in i):
            raise ValueError(f"{who} frame {t}: ids must all be given (drop untracked people first)")
        i = np.asarray(i, dtype=np.int64).reshape(-1)
        r = np.asarray(r, dtype=np.float64).reshape(-1, dims)
        if len(i) != len(r) or len(np.unique(i)) != len(i):
            raise ValueError(f"{who} frame {t}: {len(i)} ids (unique within a frame) need {len(i)} rows "
                             f"(n, {dims})")
        out.append((i, r))
    return out


def mot_metrics(gt_ids: Sequence[Sequence[int]], gt_roots_mm: Sequence[np.ndarray],
                pred_ids: Sequence[Sequence[int]], pred_roots_mm: Sequence[np.ndarray],
                threshold_mm: float = 500.0, boxes: bool = False) -> dict[str, float]:
    """MOTA, IDF1, IDP, IDR, MOTP and the counts of a tracked video (definitions in the module docstring).

    Args:
        gt_ids, pred_ids: per frame, the person ids present (ints, unique within a frame).
        gt_roots_mm, pred_roots_mm: per frame, (n, 3) roots in mm in one frame (camera frame), in id order; with
            ``boxes`` instead (n, 4) boxes ``[x, y, w, h]`` px, compared by 1 − IoU (the MOT challenge's
            protocol: ``threshold_mm`` = 0.5 means IoU ≥ 0.5; ``motp_mm`` is then the mean 1 − IoU).
        threshold_mm: largest root distance (mm, inclusive) at which a prediction can be a ground-truth person.

    Returns:
        ``{'mota', 'idf1', 'idp', 'idr', 'motp_mm', 'id_switches', 'fp', 'fn', 'matches', 'num_gt', 'num_pred',
        'idtp', 'idfp', 'idfn', 'num_frames'}``; ratios are NaN where their denominator is 0.
    """
    if len(gt_ids) != len(pred_ids):
        raise ValueError(f"ground truth has {len(gt_ids)} frames, the prediction {len(pred_ids)}")
    dims = 4 if boxes else 3
    gt = _frames(gt_ids, gt_roots_mm, "ground truth", dims)
    pr = _frames(pred_ids, pred_roots_mm, "prediction", dims)
    last_match: dict[int, int] = {}                   # gt id → hypothesis id it was last paired with
    pair_frames: dict[tuple[int, int], int] = {}      # (gt id, pred id) → frames within the threshold (IDF1)
    fp = fn = sw = matches = 0
    dist_sum = 0.0
    for (oi, orr), (hi, hr) in zip(gt, pr):
        if not (len(oi) and len(hi)):
            d = np.zeros((len(oi), len(hi)))
        elif boxes:
            d = 1.0 - box_iou_xywh(orr, hr)
        else:
            d = np.linalg.norm(orr[:, None] - hr[None], axis=-1)
        ok = d <= threshold_mm
        for a, b in zip(*np.nonzero(ok)):
            key = (int(oi[a]), int(hi[b]))
            pair_frames[key] = pair_frames.get(key, 0) + 1
        pairs, switches = _match_frame(oi, hi, d, ok, last_match)
        for a, b in pairs:
            last_match[int(oi[a])] = int(hi[b])
            dist_sum += float(d[a, b])
        sw += switches
        matches += len(pairs)
        fn += len(oi) - len(pairs)
        fp += len(hi) - len(pairs)

    num_gt = sum(len(i) for i, _ in gt)
    num_pred = sum(len(i) for i, _ in pr)
    idtp = _id_true_positives(pair_frames)
    nan = float("nan")

    def ratio(a: float, b: float) -> float:
        return a / b if b else nan

    return {
        "mota": 1.0 - ratio(fn + fp + sw, num_gt) if num_gt else nan,
        "idf1": ratio(2 * idtp, num_gt + num_pred), "idp": ratio(idtp, num_pred), "idr": ratio(idtp, num_gt),
        "motp_mm": ratio(dist_sum, matches), "id_switches": sw, "fp": fp, "fn": fn, "matches": matches,
        "num_gt": num_gt, "num_pred": num_pred, "idtp": idtp, "idfp": num_pred - idtp, "idfn": num_gt - idtp,
        "num_frames": len(gt),
    }


def _match_frame(oi: np.ndarray, hi: np.ndarray, d: np.ndarray, ok: np.ndarray, last_match: dict[int, int]
                 ) -> tuple[list[tuple[int, int]], int]:
    """One frame's (ground-truth index, prediction index) pairs and its id switches: established correspondences
    still within the threshold are carried forward, the rest assigned optimally by distance (mm)."""
    o_done = np.zeros(len(oi), dtype=bool)
    h_done = np.zeros(len(hi), dtype=bool)
    pairs: list[tuple[int, int]] = []
    for a, o in enumerate(oi):  # 1. carry established correspondences forward
        prev = last_match.get(int(o))
        if prev is None:
            continue
        b = np.flatnonzero((hi == prev) & ~h_done)
        if len(b) and ok[a, b[0]]:
            o_done[a], h_done[b[0]] = True, True
            pairs.append((a, int(b[0])))
    switches = 0
    ra, rb = np.flatnonzero(~o_done), np.flatnonzero(~h_done)
    if len(ra) and len(rb):  # 2. optimal assignment of the rest
        sub = np.where(ok[np.ix_(ra, rb)], d[np.ix_(ra, rb)], _FAR)
        for x, y in zip(*linear_sum_assignment(sub)):
            if sub[x, y] < _FAR:
                a, b = int(ra[x]), int(rb[y])
                prev = last_match.get(int(oi[a]))
                switches += prev is not None and prev != int(hi[b])
                o_done[a], h_done[b] = True, True
                pairs.append((a, b))
    return pairs, switches


def _id_true_positives(pair_frames: dict[tuple[int, int], int]) -> int:
    """Largest total of co-located frames over one-to-one pairings of ground-truth ids with predicted ids."""
    if not pair_frames:
        return 0
    o_ids = sorted({o for o, _ in pair_frames})
    h_ids = sorted({h for _, h in pair_frames})
    oi = {o: k for k, o in enumerate(o_ids)}
    hi = {h: k for k, h in enumerate(h_ids)}
    tp = np.zeros((len(o_ids), len(h_ids)))
    for (o, h), n in pair_frames.items():
        tp[oi[o], hi[h]] = n
    rows, cols = linear_sum_assignment(tp, maximize=True)
    return int(tp[rows, cols].sum())


def _second_difference(x: np.ndarray) -> np.ndarray:
    """Δ²x_t = x_{t−1} − 2·x_t + x_{t+1} over the T − 2 inner frames of (T, ...) (mm/frame²)."""
    return x[:-2] - 2.0 * x[1:-1] + x[2:]


def _track(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3 or a.shape[0] < 3:
        raise ValueError(f"{name} must be (T ≥ 3, J, 3) in mm, got {a.shape}")
    return a


def acceleration_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean over inner frames and joints of ‖Δ²pred − Δ²gt‖ in mm/frame² (SmoothNet's ``accel``); (T, J, 3) mm
    each, T ≥ 3, one person's consecutive frames."""
    p, g = _track(pred, "pred"), _track(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} must have the same shape")
    return float(np.linalg.norm(_second_difference(p) - _second_difference(g), axis=-1).mean())


def jitter(pred: np.ndarray) -> float:
    """Mean over inner frames and joints of ‖Δ²pred‖ in mm/frame²: the acceleration error against a ground truth
    moving at constant velocity; needs no ground truth. ``pred`` (T ≥ 3, J, 3) mm."""
    return float(np.linalg.norm(_second_difference(_track(pred, "pred")), axis=-1).mean())


def track_pose_metrics(pred: np.ndarray, gt: np.ndarray, root_idx: int) -> dict[str, float]:
    """One person's track (T, J, 3) mm against its ground truth: ``mpjpe_mm`` (absolute, camera frame),
    ``mpjpe_rel_mm`` (root-relative), ``mrpe_mm`` (root position error), ``accel_error`` and ``jitter``
    (mm/frame²), ``gt_jitter`` (the ground truth's own, for scale)."""
    p, g = _track(pred, "pred"), _track(gt, "gt")
    return {
        "mpjpe_mm": metrics.mean_error(metrics.mpjpe(p, g)),
        "mpjpe_rel_mm": metrics.mean_error(metrics.mpjpe(p, g, root_idx=root_idx)),
        "mrpe_mm": metrics.mrpe(p[:, root_idx], g[:, root_idx])["mrpe"],
        "accel_error": acceleration_error(p, g),
        "jitter": jitter(p),
        "gt_jitter": jitter(g),
    }


def raw_vs_smoothed(raw: np.ndarray, smoothed: np.ndarray, gt: np.ndarray, root_idx: int) -> dict[str, dict]:
    """:func:`track_pose_metrics` of the raw and of the smoothed track against the same ground truth."""
    return {"raw": track_pose_metrics(raw, gt, root_idx), "smoothed": track_pose_metrics(smoothed, gt, root_idx)}
