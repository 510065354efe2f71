"""What the estimator returns: every person of an image (:class:`Person`) in an :class:`EstimateResult`, and
their JSON form.

**Frames and units.** Camera frame: x right, y down, z forward, **millimetres**. Image: u right, v down,
**pixels** of the input image (pixel centres at integers). Boxes ``[x_min, y_min, width, height]`` px.
Timings in milliseconds, per stage of :data:`STAGES`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .camera import Intrinsics

#: The timed stages of one estimate (``timings_ms`` keys).
STAGES = ("read", "detector", "crop", "rootnet", "posenet", "decode", "total")


def _plain(a, digits: int = 3):
    """A numpy array/number as JSON-ready nested lists of rounded floats (non-finite → None)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return round(v, digits) if np.isfinite(v) else None
    return [_plain(x, digits) for x in arr]


@dataclass
class Person:
    """One person: ``bbox`` (4,) detector box ``[x, y, w, h]`` px, ``score`` (detector, 0..1), ``root_cam_mm``
    (3,) RootNet's root in the camera frame (mm), ``joints_cam_mm`` (J, 3) absolute camera-frame joints (mm),
    ``joints_2d_px`` (J, 2) image px, ``crop_box`` (4,) the processed (square, ×1.25) box the crops came from,
    ``joint_conf`` (J,) each joint's confidence 0..1 — the probability mass of its volumetric heatmap within ±2
    cells/bins of the estimate (:func:`posenet3d.nets.heads.mass_near`) — and ``pose_score``, their mean."""

    bbox: np.ndarray
    score: float
    root_cam_mm: np.ndarray
    joints_cam_mm: np.ndarray
    joints_2d_px: np.ndarray
    crop_box: np.ndarray
    joint_conf: np.ndarray | None = None

    @property
    def pose_score(self) -> float | None:
        """The mean joint confidence (0..1), or None without confidences."""
        return None if self.joint_conf is None else float(np.mean(self.joint_conf))

    def to_dict(self) -> dict:
        out = {"bbox": _plain(self.bbox, 2), "score": round(float(self.score), 4),
               "root_cam_mm": _plain(self.root_cam_mm), "joints_cam_mm": _plain(self.joints_cam_mm),
               "joints_2d_px": _plain(self.joints_2d_px)}
        if self.joint_conf is not None:
            out.update(joint_conf=_plain(self.joint_conf, 4), pose_score=round(float(self.pose_score), 4))
        return out


UNITS = {
    "bbox": "px, [x_min, y_min, width, height] in the input image",
    "score": "detector confidence, 0..1",
    "root_cam_mm": "mm, camera frame (x right, y down, z forward); RootNet's root joint",
    "joints_cam_mm": "mm, camera frame (x right, y down, z forward), absolute; J x 3 in joint_names order",
    "joints_2d_px": "px, input image (u right, v down); J x 2 in joint_names order",
    "joint_conf": "0..1 per joint: probability mass of its heatmap within 2 cells/bins of the estimate",
    "pose_score": "0..1: mean of joint_conf",
    "intrinsics": "px",
    "image_size": "px",
    "timings_ms": "milliseconds",
}


@dataclass
class EstimateResult:
    """The people found in one image, with everything needed to read them.

    Behaves as the list of :class:`Person` (``len``, iteration, indexing). ``joint_names`` and ``skeleton``
    (bones as joint-index pairs) give the joint order; ``intrinsics`` are those actually used; ``image_size`` is
    (W, H) px; ``timings_ms`` per stage (:data:`STAGES`); ``model`` the identity of the networks that made it
    (:attr:`posenet3d.estimator.Estimator.model`: ``name``, ``version``, ``domain``, ``files``; None when
    unknown); ``notes`` what a reader should know about this result (e.g. an image too small to search).
    """

    people: list[Person]
    joint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    intrinsics: Intrinsics
    image_size: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: dict | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.people)

    def __iter__(self):
        return iter(self.people)

    def __getitem__(self, index):
        return self.people[index]

    def to_dict(self) -> dict:
        """JSON-ready: ``units``, ``image_size``, ``intrinsics``, ``people``, ``joint_names``, ``skeleton``,
        ``timings_ms``, ``model``, ``notes`` (docs/output-format.md)."""
        return {"units": dict(UNITS), "image_size": {"width": int(self.image_size[0]),
                                                     "height": int(self.image_size[1])},
                "intrinsics": self.intrinsics.to_dict(), "people": [p.to_dict() for p in self.people],
                "joint_names": list(self.joint_names), "skeleton": [list(b) for b in self.skeleton],
                "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()},
                "model": copy.deepcopy(self.model), "notes": list(self.notes)}


__all__ = ["STAGES", "UNITS", "EstimateResult", "Person"]
