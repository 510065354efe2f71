"""Pose errors: per-joint Euclidean errors and MPJPE after optional root centring and alignment, in mm.

Pose arrays are ``(N, J, 3)`` (N people or frames, J joints) in millimetres, prediction and ground truth in one
common frame (normally the camera frame, x right, y down, z forward); nothing here assumes which.

Alignments, fitted per sample before the error is taken: ``'none'``; ``'scale'`` (N-MPJPE,
s = <p, g> / <p, p>); ``'procrustes'`` (similarity transform: scale, rotation, translation — the field's PA-MPJPE,
VideoPose3D/HMR); ``'rigid'`` (rotation + translation, no scale — what the 3DMPPE code labels "PA MPJPE").
Reflections are never used unless asked for.
"""
from __future__ import annotations

import numpy as np

ALIGNMENTS = ("none", "scale", "procrustes", "rigid")


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

