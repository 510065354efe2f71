"""3DPCK and its AUC over thresholds, in percent, from per-joint errors in mm.

3DPCK is the share of joint errors strictly below a threshold (150 mm); the AUC is the mean 3DPCK over
0, 5, …, 150 mm, so a perfect prediction scores 30/31 · 100 ≈ 96.77 (the official MPI-INF-3DHP / MuPoTS-3D
convention, kept so numbers compare with published ones).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: AUC thresholds of the official MPI-INF-3DHP / MuPoTS-3D code (``thresh = 0:5:150``), mm.
AUC_THRESHOLDS_MM = np.arange(0.0, 151.0, 5.0)


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

