"""Video: the layer above the estimator — persistent identities and smooth motion over frames.

``frames → Estimator (people per frame) → Tracker (track ids) → smoothing (per track, mm) → writers``.
:class:`VideoTracker` takes each frame's :class:`~posenet3d.results.EstimateResult` in order and gives every
person a ``track_id`` (:mod:`posenet3d.tracking`); with ``smooth="online"`` it also returns each confirmed
person's smoothed joints at once (One-Euro; the root's depth by a constant-velocity Kalman filter; no
look-ahead), with ``"offline"`` the zero-lag smoothed tracks are computed over whole tracks by
:meth:`VideoTracker.tracks` at the end, with ``"none"`` nothing is smoothed.
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
        #: offline, after :meth:`tracks`: ``{id: id it was joined to}`` for tracks that continue an earlier one
        self.id_map: dict[int, int] = {}

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
            out[tid] = t
        if self.smooth == "offline":
            out, self.id_map = offline_tracks(out, self.root_idx, self.smoothing)
        return out


def offline_tracks(tracks: dict[int, dict[str, np.ndarray]], root_idx: int, smoothing: SmoothingConfig
                   ) -> tuple[dict[int, dict[str, np.ndarray]], dict[int, int]]:
    """The offline mode over a clip's tracks: tracks that continue one another within ``offline_stitch_gap_s``
    joined (:func:`stitch_tracks`), then each filled and smoothed (:func:`offline_track`). Returns the tracks and
    ``{id: id it now belongs to}`` for the ids that were joined to an earlier one."""
    gap = int(round(smoothing.offline_stitch_gap_s * smoothing.fps))
    id_map = stitch_tracks(tracks, root_idx, gap) if gap > 0 else {}
    merged = merge_tracks(tracks, id_map) if id_map else tracks
    return {tid: offline_track(t, root_idx, smoothing) for tid, t in merged.items()}, id_map


def offline_track(track: dict[str, np.ndarray], root_idx: int, smoothing: SmoothingConfig) -> dict[str, np.ndarray]:
    """A track as the offline mode gives it: short gaps filled (:func:`fill_gaps`, ``offline_fill_gap_s``), then
    ``smoothed_cam_mm`` from the zero-lag smoother over the whole track (gaps still open kept apart)."""
    gap = int(round(smoothing.offline_fill_gap_s * smoothing.fps))
    t = fill_gaps(track, gap) if gap > 0 else dict(track)
    t["smoothed_cam_mm"] = smooth_track(t["joints_cam_mm"], "offline", root_idx, smoothing, frames=t["frames"])
    return t


def stitch_tracks(tracks: dict[int, dict[str, np.ndarray]], root_idx: int, max_gap_frames: int,
                  max_shift_box_heights: float = 1.0, max_depth_mm: float = 1500.0) -> dict[int, int]:
    """Offline: which tracks continue an earlier one (a person lost for longer than the tracker's ``max_age``, or
    picked up again under a new id). Returns ``{id: id it continues}`` (chains resolved to the first id; ids that
    continue nothing are left out).

    A track ``A`` ending at frame ``a`` and a track ``B`` starting at ``b``, ``0 < b − a ≤ max_gap_frames``, may be
    joined when ``B``'s first box centre lies within ``max_shift_box_heights`` box heights of ``A``'s last box
    centre moved on by ``A``'s image velocity (px/frame, fitted over its last 10 frames, at most 0.1 box heights a
    frame), and ``B``'s first root depth within ``max_depth_mm`` (mm, grows 40 mm per frame of gap) of ``A``'s last;
    the cost is the sum of both distances, each divided by its limit, and ends are paired with starts by
    :func:`scipy.optimize.linear_sum_assignment`."""
    from scipy.optimize import linear_sum_assignment

    ids = sorted(tracks)
    if len(ids) < 2:
        return {}

    def centre(t: dict, i) -> np.ndarray:
        b = np.asarray(t["boxes_xywh_px"], dtype=np.float64)[i]
        return b[..., :2] + 0.5 * b[..., 2:]

    ends, starts = [], []
    for tid in ids:
        t = tracks[tid]
        f = np.asarray(t["frames"])
        tail = slice(max(0, len(f) - 10), len(f))
        h = float(np.median(np.asarray(t["boxes_xywh_px"])[tail, 3]))
        vel = np.zeros(2)
        if len(f[tail]) >= 3:
            vel = np.polyfit(f[tail].astype(np.float64), centre(t, tail), 1)[0]
            speed = np.linalg.norm(vel)
            vel = vel * min(1.0, 0.1 * h / max(speed, 1e-9))
        head = slice(0, min(3, len(f)))
        ends.append((int(f[-1]), centre(t, len(f) - 1), vel, h,
                     float(np.median(np.asarray(t["joints_cam_mm"])[tail, root_idx, 2]))))
        starts.append((int(f[0]), np.median(centre(t, head), axis=0),
                       float(np.median(np.asarray(t["joints_cam_mm"])[head, root_idx, 2]))))
    cost = np.full((len(ids), len(ids)), np.inf)
    for i, (a, ca, va, ha, za) in enumerate(ends):
        for j, (b, cb, zb) in enumerate(starts):
            gap = b - a
            if i == j or not 0 < gap <= max_gap_frames:
                continue
            shift = np.linalg.norm(ca + va * gap - cb) / (max_shift_box_heights * ha)
            depth = abs(zb - za) / (max_depth_mm + 40.0 * gap)
            if shift <= 1.0 and depth <= 1.0:
                cost[i, j] = shift + depth
    if not np.isfinite(cost).any():
        return {}
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
    parent = {ids[c]: ids[r] for r, c in zip(rows, cols) if np.isfinite(cost[r, c])}
    out = {}
    for tid in parent:
        first = tid
        while first in parent:
            first = parent[first]
        out[tid] = first
    return out


def merge_tracks(tracks: dict[int, dict[str, np.ndarray]], id_map: dict[int, int]) -> dict[int, dict[str, np.ndarray]]:
    """Tracks with those of ``id_map`` (:func:`stitch_tracks`) appended to the track they continue, in frame
    order, under its id."""
    groups: dict[int, list[int]] = {}
    for tid in sorted(tracks):
        groups.setdefault(id_map.get(tid, tid), []).append(tid)
    out = {}
    for first, members in sorted(groups.items()):
        parts = [tracks[m] for m in sorted(members, key=lambda m: tracks[m]["frames"][0])]
        out[first] = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
    return out


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
