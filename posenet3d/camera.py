"""Camera intrinsics of the estimator: what was given, or the reference's default, as one :class:`Intrinsics`.

Pass ``intrinsics`` (a 3×3 K or ``(fx, fy, cx, cy)`` px) or ``focal`` (``f`` or ``(fx, fy)`` px, principal
point at the image centre ``(W/2, H/2)``). Without either the reference's convention is used: ``f = 1500 px``
and the principal point at ``(W/2, H/2)``. RootNet's depth is ``γ·k`` with ``k ∝ sqrt(fx·fy)`` and γ depending
only on the crop, so **absolute depth scales linearly with the focal length**: with the default focal the
depths (and hence the x, y positions) are in "f = 1500 px" units; give the real focal length for metric
positions — no retraining is needed. Root-relative poses do not depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The reference demo's focal length (px) used when no intrinsics are given.
DEFAULT_FOCAL_PX = 1500.0


class EstimatorError(ValueError):
    """The estimator cannot be built or used as asked (intrinsics, bundle, configs, options); the message names
    the cause."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in px: focal lengths ``fx``, ``fy`` and principal point ``(cx, cy)``; ``source`` says
    where they came from (``"given"``, ``"focal given, principal point at the image centre"`` or the default)."""

    fx: float
    fy: float
    cx: float
    cy: float
    source: str = "given"

    @property
    def matrix(self) -> np.ndarray:
        """The 3×3 K (px)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def focal(self) -> np.ndarray:
        return np.array([self.fx, self.fy])

    @property
    def princpt(self) -> np.ndarray:
        return np.array([self.cx, self.cy])

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "K": self.matrix.tolist(), "source": self.source}


def _positive(values, what: str) -> list[float]:
    out = [float(v) for v in values]
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise EstimatorError(f"{what} must be finite and positive (px), got {out}")
    return out


def resolve_intrinsics(width: int, height: int, intrinsics=None, focal=None) -> Intrinsics:
    """The intrinsics used for an image of ``width`` × ``height`` px.

    ``intrinsics``: an :class:`Intrinsics`, a 3×3 K (no skew, last row ``0 0 1``) or ``(fx, fy, cx, cy)`` px.
    ``focal``: ``f`` or ``(fx, fy)`` px with the principal point at ``(W/2, H/2)``. Neither: ``f`` =
    :data:`DEFAULT_FOCAL_PX` at ``(W/2, H/2)`` (the reference demo's convention; depth then scales with the
    true focal length, see the module docstring). Giving both is an error.
    """
    if intrinsics is not None and focal is not None:
        raise EstimatorError("give either intrinsics or focal, not both")
    centre = (width / 2.0, height / 2.0)
    if isinstance(intrinsics, Intrinsics):
        return intrinsics
    if intrinsics is not None:
        k = np.asarray(intrinsics, dtype=np.float64)
        if k.shape == (3, 3):
            if not np.all(np.isfinite(k)) or k[0, 1] != 0 or k[1, 0] != 0 or not np.allclose(k[2], [0, 0, 1]):
                raise EstimatorError(f"intrinsics: expected a 3x3 K [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] "
                                     f"(no skew), got {k.tolist()}")
            fx, fy = _positive((k[0, 0], k[1, 1]), "intrinsics focal lengths")
            return Intrinsics(fx, fy, float(k[0, 2]), float(k[1, 2]), "given")
        if k.shape == (4,):
            fx, fy = _positive(k[:2], "intrinsics focal lengths")
            if not np.all(np.isfinite(k[2:])):
                raise EstimatorError(f"intrinsics: the principal point must be finite, got {k[2:].tolist()}")
            return Intrinsics(fx, fy, float(k[2]), float(k[3]), "given")
        raise EstimatorError(f"intrinsics: expected a 3x3 matrix or (fx, fy, cx, cy), got shape {k.shape}")
    if focal is not None:
        f = np.asarray(focal, dtype=np.float64).reshape(-1)
        if f.shape not in ((1,), (2,)):
            raise EstimatorError(f"focal: expected f or (fx, fy) in px, got {f.tolist()}")
        fx, fy = _positive((f[0], f[-1]), "focal")
        return Intrinsics(fx, fy, *centre, "focal given, principal point at the image centre (W/2, H/2)")
    return Intrinsics(DEFAULT_FOCAL_PX, DEFAULT_FOCAL_PX, *centre,
                      f"default: f = {DEFAULT_FOCAL_PX:g} px, principal point at the image centre (W/2, H/2); "
                      "absolute depth scales linearly with the true focal length")


__all__ = ["DEFAULT_FOCAL_PX", "EstimatorError", "Intrinsics", "resolve_intrinsics"]
