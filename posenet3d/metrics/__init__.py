"""Pure 3D pose metrics: numpy arrays in millimetres (or pixels where a name says ``_px``) in, numbers out.

Nothing here knows a dataset; the evaluators in :mod:`posenet3d.evaluation` choose joints, roots and averaging.
Frames: every 3D array is in one common frame (normally the camera frame, x right, y down, z forward); the
functions never assume which. Pose arrays are ``(N, J, 3)`` (N people or frames, J joints).

One module per idea, every name re-exported here:

* :mod:`~posenet3d.metrics.pose` — MPJPE, root-relative when ``root_idx`` is given, after an optional
  alignment: ``'none'``, ``'scale'`` (N-MPJPE), ``'procrustes'`` (similarity transform, the field's PA-MPJPE) or
  ``'rigid'`` (rotation + translation, what the 3DMPPE code labels "PA MPJPE"); the per-group average.
* :mod:`~posenet3d.metrics.pck` — 3DPCK (share of joint errors strictly below 150 mm) and its AUC over
  0, 5, …, 150 mm (so a perfect prediction scores 30/31 · 100 ≈ 96.77).
* :mod:`~posenet3d.metrics.roots` — MRPE with per-axis errors, recall within a radius, greedy root matching,
  and RootNet's AP_root at 250 mm with its quirks reproduced.
* :mod:`~posenet3d.metrics.mupots` — the official MuPoTS-3D greedy 2D identity matching and the bone-length
  rescaling to ground truth.
* :mod:`~posenet3d.metrics.confidence` — errors grouped by confidence quantile.
"""
from __future__ import annotations

from .confidence import error_by_confidence
from .mupots import (
    MPI17_BONE_PARENTS,
    MPI17_SAFE_TRAVERSAL,
    MUPOTS_MATCHING_JOINTS,
    match_poses_2d,
    rescale_to_gt_bone_lengths,
)
from .pck import AUC_THRESHOLDS_MM, auc3d, pck3d
from .pose import ALIGNMENTS, joint_errors, mean_error, mpjpe, procrustes_align
from .roots import (
    ap_root,
    ap_root_ranked,
    match_roots,
    mrpe,
    size_blind_roots,
    within_threshold,
)

__all__ = [
    "ALIGNMENTS", "AUC_THRESHOLDS_MM", "MPI17_BONE_PARENTS", "MPI17_SAFE_TRAVERSAL", "MUPOTS_MATCHING_JOINTS",
    "ap_root", "ap_root_ranked", "auc3d", "error_by_confidence", "joint_errors", "match_poses_2d", "match_roots",
    "mean_error", "mpjpe", "mrpe", "pck3d", "procrustes_align", "rescale_to_gt_bone_lengths", "size_blind_roots",
    "within_threshold",
]
