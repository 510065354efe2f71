"""Video: the layer above the estimator — persistent identities and smooth motion over frames.

``frames → Estimator (people per frame) → Tracker (track ids) → smoothing (per track, mm) → writers``.
:class:`VideoTracker` takes each frame's :class:`~posenet3d.results.EstimateResult` in order and gives every
person a ``track_id`` (:mod:`posenet3d.tracking`); with ``smooth="online"`` it also returns each confirmed
person's One-Euro-smoothed joints at once (no look-ahead), with ``"offline"`` the zero-lag smoothed tracks are
computed over whole tracks by :meth:`VideoTracker.tracks` at the end, with ``"none"`` nothing is smoothed.
Joints are absolute camera-frame millimetres throughout.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .results import EstimateResult
from .smoothing import SMOOTH_MODES, SmoothingConfig, TrackSmoother, smooth_track
from .tracking import People, Tracker, TrackerConfig


@dataclass
class TrackedFrame:
    """One frame after tracking: the estimator's ``result``, each person's ``track_ids`` (None while its track is
    tentative) and ``smoothed_cam_mm`` (J, 3) mm per person (the online filter's output; the raw joints when
    smoothing is off or offline, or for a tentative person)."""

    index: int
    result: EstimateResult
    track_ids: list[int | None]
    smoothed_cam_mm: list[np.ndarray]


@dataclass
class _TrackStore:
    frames: list[int] = field(default_factory=list)
    joints_cam_mm: list[np.ndarray] = field(default_factory=list)
    smoothed_cam_mm: list[np.ndarray] = field(default_factory=list)
    joints_2d_px: list[np.ndarray] = field(default_factory=list)
    joint_conf: list[np.ndarray] = field(default_factory=list)
    boxes_xywh_px: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


class VideoTracker:
    """Tracks and smooths the people of consecutive frames (see the module docstring).

    ``root_idx``: the root joint in the estimator's joint order; ``fps``: the video's frame rate (Hz), which
    the smoother's cutoffs refer to.
    """

    def __init__(self, root_idx: int, fps: float, smooth: str = "online", tracker: TrackerConfig | None = None,
                 smoothing: SmoothingConfig | None = None) -> None:
        if smooth not in SMOOTH_MODES:
            raise ValueError(f"smooth must be one of {SMOOTH_MODES}, got {smooth!r}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.root_idx, self.smooth = root_idx, smooth
        self.smoothing = dataclasses.replace(smoothing or SmoothingConfig(), fps=float(fps))
        self.tracker = Tracker(tracker or TrackerConfig())
        self.smoother = TrackSmoother(root_idx, self.smoothing)
        self._store: dict[int, _TrackStore] = {}

    def update(self, index: int, result: EstimateResult) -> TrackedFrame:
        """Track the people of frame ``index`` (increasing from call to call; gaps allowed)."""
        people = list(result.people)
        raw = [np.asarray(p.joints_cam_mm, dtype=np.float64) for p in people]
        conf = [None if p.joint_conf is None else np.asarray(p.joint_conf, dtype=np.float64) for p in people]
        have_conf = people and all(c is not None for c in conf)
        ids = self.tracker.update(index, People(
            roots_cam_mm=[r[self.root_idx] for r in raw] if people else np.zeros((0, 3)),
            boxes_xywh_px=[p.bbox for p in people] if people else np.zeros((0, 4)),
            joints_cam_mm=np.stack(raw) if people else None,
            joint_conf=np.stack(conf) if have_conf else None))
        smoothed = []
        for person, tid, joints, c in zip(people, ids, raw, conf):
            out = joints
            if tid is not None and self.smooth == "online":
                out = self.smoother.update(index, tid, joints, c)
            smoothed.append(out)
            if tid is not None:
                self._record(tid, index, person, joints, out, c)
        if self.smooth == "online":
            self.smoother.retain(self.tracker.active_ids)
        return TrackedFrame(index, result, ids, smoothed)

    def _record(self, tid: int, index: int, person, joints: np.ndarray, smoothed: np.ndarray,
                conf: np.ndarray | None) -> None:
        s = self._store.setdefault(tid, _TrackStore())
        s.frames.append(index)
        s.joints_cam_mm.append(joints)
        s.smoothed_cam_mm.append(smoothed)
        s.joints_2d_px.append(np.asarray(person.joints_2d_px, dtype=np.float64))
        s.joint_conf.append(conf if conf is not None else np.full(len(joints), np.nan))
        s.boxes_xywh_px.append(np.asarray(person.bbox, dtype=np.float64))
        s.scores.append(float(person.score))

    def tracks(self) -> dict[int, dict[str, np.ndarray]]:
        """Every confirmed track: ``frames`` (T,), ``joints_cam_mm`` (T, J, 3) raw and ``smoothed_cam_mm``
        (T, J, 3) mm (offline smoothing is computed here, over the whole track, gaps kept apart),
        ``joints_2d_px`` (T, J, 2), ``joint_conf`` (T, J), ``boxes_xywh_px`` (T, 4), ``scores`` (T,)."""
        out = {}
        for tid, s in sorted(self._store.items()):
            t = {k: np.asarray(v) for k, v in s.__dict__.items()}
            if self.smooth == "offline":
                t["smoothed_cam_mm"] = smooth_track(t["joints_cam_mm"], "offline", self.root_idx, self.smoothing,
                                                    frames=t["frames"])
            out[tid] = t
        return out
