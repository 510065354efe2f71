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
        (T, J, 3) mm, ``joints_2d_px`` (T, J, 2), ``joint_conf`` (T, J), ``boxes_xywh_px`` (T, 4), ``scores`` (T,),
        ``interpolated`` (T,) bool. Offline, gaps of up to ``smoothing.offline_fill_gap_s`` are filled first
        (:func:`fill_gaps`) and the whole track is then smoothed (longer gaps kept apart); online and without
        smoothing the tracks hold the frames the person was seen in, ``interpolated`` all False."""
        out = {}
        for tid, s in sorted(self._store.items()):
            t = {k: np.asarray(v) for k, v in s.__dict__.items()}
            t["interpolated"] = np.zeros(len(t["frames"]), dtype=bool)
            if self.smooth == "offline":
                t = offline_track(t, self.root_idx, self.smoothing)
            out[tid] = t
        return out


def offline_track(track: dict[str, np.ndarray], root_idx: int, smoothing: SmoothingConfig) -> dict[str, np.ndarray]:
    """A track as the offline mode gives it: short gaps filled (:func:`fill_gaps`, ``offline_fill_gap_s``), then
    ``smoothed_cam_mm`` from the zero-lag smoother over the whole track (gaps still open kept apart)."""
    gap = int(round(smoothing.offline_fill_gap_s * smoothing.fps))
    t = fill_gaps(track, gap) if gap > 0 else dict(track)
    t["smoothed_cam_mm"] = smooth_track(t["joints_cam_mm"], "offline", root_idx, smoothing, frames=t["frames"])
    return t


#: Per-frame arrays of a track that :func:`fill_gaps` interpolates linearly (joints, 2D joints, boxes).
_INTERPOLATED = ("joints_cam_mm", "smoothed_cam_mm", "joints_2d_px", "boxes_xywh_px")


def fill_gaps(track: dict[str, np.ndarray], max_gap_frames: int) -> dict[str, np.ndarray]:
    """Fill every gap of at most ``max_gap_frames`` missing frames of a track (``frames`` (T,) increasing, per-frame
    arrays along axis 0) by linear interpolation in time between the frames before and after it: 3D joints (mm),
    2D joints and boxes (px); ``joint_conf`` and ``scores`` of a filled frame are 0 (nobody saw it) and
    ``interpolated`` is True. Longer gaps stay open. A person hidden behind another for a moment walks on along a
    straight line, which is what the offline tracks file should show (and what the MOT protocols count)."""
    frames = np.asarray(track["frames"], dtype=np.int64)
    steps = np.diff(frames)
    fill = (steps > 1) & (steps - 1 <= max_gap_frames)
    if not fill.any():
        return dict(track)
    new = np.concatenate([frames] + [np.arange(frames[i] + 1, frames[i + 1]) for i in np.flatnonzero(fill)])
    order = np.argsort(new, kind="stable")
    new = new[order]
    seen = np.isin(new, frames)
    after = np.searchsorted(frames, new)                  # for filled frames: the next seen frame
    lo, hi = np.clip(after - 1, 0, len(frames) - 1), np.clip(after, 0, len(frames) - 1)
    w = np.where(seen, 0.0, (new - frames[lo]) / np.maximum(frames[hi] - frames[lo], 1))
    src = np.where(seen, np.searchsorted(frames, new), lo)
    out: dict[str, np.ndarray] = {"frames": new}
    for key, value in track.items():
        if key == "frames":
            continue
        a = np.asarray(value)
        if key in _INTERPOLATED:
            shape = (-1,) + (1,) * (a.ndim - 1)
            out[key] = np.where(seen.reshape(shape), a[src], (1 - w).reshape(shape) * a[lo] + w.reshape(shape) * a[hi])
        elif key == "interpolated":
            out[key] = ~seen | np.where(seen, a[src], False)
        else:  # joint_conf, scores: 0 for a frame nobody saw
            out[key] = np.where(seen.reshape((-1,) + (1,) * (a.ndim - 1)), a[src], 0).astype(a.dtype)
    return out
