"""Human3.6M evaluation: root-relative MPJPE and two PA-MPJPEs, in total and per action (3DMPPE order).

Protocol numbers follow the 3DMPPE code, *not* VideoPose3D (whose protocol 1 is MPJPE and 2 is PA-MPJPE):
protocol 1 = PA-MPJPE (train S1, 5, 6, 7, 8, 9; test S11), protocol 2 = MPJPE (train S1, 5, 6, 7, 8; test S9, S11).
The protocol only picks the headline number; all three metrics are always reported, each labelled:

* ``mpjpe`` — root-relative, no alignment;
* ``pa_mpjpe_rigid`` — after the 3DMPPE ``rigid_align`` (rotation + translation, no scale, no reflection),
  which is what the 3DMPPE paper and code call "PA MPJPE" (the reference's protocol-1 number);
* ``pa_mpjpe_similarity`` — after the field's similarity Procrustes (scale + rotation + translation, no
  reflection), as VideoPose3D, HMR and mmpose.

As in the reference, both poses are centred on the root, the alignment is fitted on *all* the given joints
(e.g. the 18 incl. the derived Thorax), and the error is averaged over ``eval_joints`` only (e.g. the 17
original joints). ``total`` pools all samples (the reference's "tot"); ``action_mean`` is the mean of the
per-action means (VideoPose3D's action-wise average).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posenet3d.evaluation.base import TestSetEvaluator
from posenet3d.metrics import mean_error, mpjpe, procrustes_align
from posenet3d.skeletons import HUMAN36M_EVAL_JOINTS, JointSet, get_joint_set

#: Human3.6M action names in the 3DMPPE order; index = the annotation's ``action_idx`` − 2.
ACTION_NAMES = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
                "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether")

METRIC_LABELS = {
    "mpjpe": "MPJPE (mm): root-relative, no alignment",
    "pa_mpjpe_rigid": "PA-MPJPE, 3DMPPE rigid alignment (mm): rotation + translation, no scale, no reflection",
    "pa_mpjpe_similarity": "PA-MPJPE, similarity Procrustes (mm): scale + rotation + translation, no reflection",
}
#: Headline metric of each 3DMPPE protocol number.
PROTOCOL_METRIC = {1: "pa_mpjpe_rigid", 2: "mpjpe"}


def evaluate_human36m(pred_cam_mm: np.ndarray, gt_cam_mm: np.ndarray, action_idx: np.ndarray,
                      eval_joints: Sequence[int], root_idx: int, protocol: int) -> dict:
    """Score Human3.6M predictions.

    Args:
        pred_cam_mm, gt_cam_mm: (N, J, 3) camera-frame joints in mm (absolute or root-relative; both are
            centred on ``root_idx`` here).
        action_idx: (N,) int in 0..14 — index into :data:`ACTION_NAMES` (annotation ``action_idx`` − 2).
        eval_joints: joint indices the error is averaged over (e.g. ``range(17)``, Thorax excluded).
        root_idx: root joint index (0, Pelvis, for Human3.6M).
        protocol: 1 (headline PA-MPJPE, 3DMPPE rigid) or 2 (headline MPJPE).

    Returns:
        ``{'dataset', 'protocol', 'headline_metric', 'headline', 'num_samples', 'labels', 'metrics',
        'num_samples_per_action'}`` where ``metrics[name]`` = ``{'total', 'action_mean', <15 action names in
        the reference order>}`` in mm (NaN for an action with no sample).
    """
    if protocol not in PROTOCOL_METRIC:
        raise ValueError(f"Human3.6M protocol must be 1 or 2 (3DMPPE numbering), got {protocol!r}")
    pred, gt = _pose_pair(pred_cam_mm, gt_cam_mm)
    n, j = pred.shape[:2]
    actions = _action_indices(action_idx, n)
    joints = [int(k) for k in eval_joints]
    if not joints or min(joints) < -j or max(joints) >= j:
        raise ValueError(f"eval_joints {joints} must be non-empty indices into {j} joints")
    if not -j <= root_idx < j:
        raise ValueError(f"root_idx {root_idx} is out of range for {j} joints")
    metrics = {name: _metric_row(p, gt_rel, joints, actions)
               for name, p, gt_rel in _root_relative_alignments(pred, gt, root_idx)}
    headline = PROTOCOL_METRIC[protocol]
    return {
        "dataset": "Human36M",
        "protocol": protocol,
        "headline_metric": headline,
        "headline": metrics[headline]["total"],
        "num_samples": n,
        "labels": dict(METRIC_LABELS),
        "metrics": metrics,
        "num_samples_per_action": {a: int(np.sum(actions == k)) for k, a in enumerate(ACTION_NAMES)},
    }


def _pose_pair(pred_cam_mm: np.ndarray, gt_cam_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and GT as float64 (N, J, 3) camera-frame mm arrays of one shape with N > 0."""
    pred = np.asarray(pred_cam_mm, dtype=np.float64)
    gt = np.asarray(gt_cam_mm, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[-1] != 3 or pred.shape != gt.shape or pred.shape[0] == 0:
        raise ValueError(f"pred_cam_mm {pred.shape} and gt_cam_mm {gt.shape} must both be (N, J, 3), N > 0")
    return pred, gt


def _action_indices(action_idx: np.ndarray, n: int) -> np.ndarray:
    """``action_idx`` as (n,) integers in 0..14 (indices into :data:`ACTION_NAMES`); whole floats are accepted."""
    actions = np.asarray(action_idx).reshape(-1)
    if actions.shape[0] != n:
        raise ValueError(f"action_idx has {actions.shape[0]} entries for {n} samples")
    if not np.issubdtype(actions.dtype, np.integer):
        if not np.all(np.mod(actions, 1) == 0):
            raise ValueError("action_idx must hold integers 0..14")
        actions = actions.astype(np.int64)
    bad = np.flatnonzero((actions < 0) | (actions >= len(ACTION_NAMES)))
    if bad.size:
        raise ValueError(f"action_idx must be in 0..14 (annotation action_idx - 2); sample {bad[0]} has "
                         f"{actions[bad[0]]}")
    return actions


def _root_relative_alignments(pred: np.ndarray, gt: np.ndarray, root_idx: int
                              ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(metric name, prediction, GT)`` for each of :data:`METRIC_LABELS`: both poses (N, J, 3) mm centred on
    ``root_idx``, the prediction then aligned to the GT as that metric asks, the fit using all J joints."""
    pred_rel = pred - pred[:, [root_idx]]
    gt_rel = gt - gt[:, [root_idx]]
    return [
        ("mpjpe", pred_rel, gt_rel),
        ("pa_mpjpe_rigid", procrustes_align(pred_rel, gt_rel, scale=False), gt_rel),
        ("pa_mpjpe_similarity", procrustes_align(pred_rel, gt_rel, scale=True), gt_rel),
    ]


def _metric_row(pred_rel: np.ndarray, gt_rel: np.ndarray, joints: list[int], actions: np.ndarray) -> dict:
    """MPJPE (mm) over ``joints`` of aligned root-relative poses (N, J, 3) mm: ``total`` (all samples pooled),
    ``action_mean`` (mean of the per-action means) and one entry per action name (NaN without samples)."""
    per_sample = mpjpe(pred_rel[:, joints], gt_rel[:, joints])
    row = {"total": mean_error(per_sample), "action_mean": mean_error(per_sample, actions)}
    for a, action in enumerate(ACTION_NAMES):
        sel = actions == a
        row[action] = float(per_sample[sel].mean()) if sel.any() else float("nan")
    return row


class Human36MEvaluator(TestSetEvaluator):
    """Human3.6M: the 17 evaluation joints (no thorax), MPJPE / PA-MPJPE per action (protocol of the records)."""

    def joint_subsets(self, joint_set: JointSet) -> tuple[list[int], list[int]]:
        return list(HUMAN36M_EVAL_JOINTS), list(HUMAN36M_EVAL_JOINTS)

    def pose_results(self, name: str, records: Sequence, gt_records: Sequence, pred_img: np.ndarray,
                     pred_cam_mm: np.ndarray, out_dir: Path, gt_boxes: bool) -> dict:
        if not gt_boxes or not len(records):
            return {}
        gt_cam = np.array([r.joints_cam for r in records])
        action = np.array([r.extra["action_idx"] for r in records])
        root = get_joint_set(records[0].joint_set).root_idx
        return {"human36m": evaluate_human36m(pred_cam_mm, gt_cam, action, HUMAN36M_EVAL_JOINTS, root,
                                              self.adapter.protocol)}

    def root_groups(self, records: Sequence) -> tuple[np.ndarray, Sequence[str]] | None:
        return np.array([r.extra["action_idx"] for r in records]), ACTION_NAMES

    def headline_figures(self, results: dict) -> dict[str, float]:
        """The protocol's headline: MPJPE (protocol 2) or rigidly aligned PA-MPJPE (protocol 1), mm."""
        h36m = results.get("human36m")
        return {f"h36m_{h36m['headline_metric']}_mm": float(h36m["headline"])} if h36m else {}
