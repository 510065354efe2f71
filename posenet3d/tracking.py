"""Online multi-person tracker: a persistent ``track_id`` for every person, frame after frame.

Sits above the estimator (``shared/design.md``, "Video adds one layer above the estimator"): it reads each
frame's people as arrays and knows nothing about networks, images or files.

Per frame, for every existing track and every detected person:

1. **Prediction (constant velocity).** A track holds a root estimate ``r`` (camera frame, mm) at the frame ``f``
   of its last match and a velocity ``v`` (mm/frame). At frame ``t`` it predicts ``r̂ = r + v·(t − f)``. When a
   person ``z`` is matched, an α–β filter (the steady-state constant-velocity Kalman filter) corrects both:
   ``e = z − r̂``, ``r ← r̂ + α·e``, ``v ← v + (β / (t − f))·e``. A single RootNet depth is off by ~100 mm from
   frame to frame, so raw differences of roots would give velocities off by ~140 mm/frame, more than a walker
   moves; the filter averages that out. The box's top-left corner is predicted and corrected the same way in px,
   its size is taken from the last match. A lost track's prediction keeps moving, so a person walking behind
   someone is looked for where they should be.
2. **Gate.** A pair is allowed only if ``‖r̂ − r_det‖ ≤ gate_mm(t − f)``, with
   ``gate_mm(k) = min(gate_root_mm + gate_growth_mm_per_frame·(k − 1), gate_root_max_mm)``: the longer a track
   has been unseen, the less its prediction is worth, so the gate grows.
3. **Cost** of an allowed pair (dimensionless, each term in [0, 1])::

       cost = w_root · ‖r̂ − r_det‖ / gate_mm(t − f)
            + w_iou  · (1 − IoU(predicted box, detected box))
            + w_pose · min(1, d_pose / pose_scale_mm)

   ``d_pose`` is the (confidence-weighted) mean per-joint distance in mm between the two poses, each centred on its
   own joint centroid, so absolute and root-relative joints give the same value. The 3D root is the term that
   separates two people whose boxes overlap while they stand at different depths; IoU and pose break ties between
   people at similar depth. A pair whose cost exceeds ``max_cost`` is refused as well.
4. **Assignment.** :func:`scipy.optimize.linear_sum_assignment` over the cost matrix (refused pairs at a large
   constant, dropped afterwards), first for confirmed tracks (matched or lost), then for tentative tracks over the
   people left over, so that a fresh, unconfirmed track never steals a person from an established one.
5. **Life cycle.** An unmatched person opens a *tentative* track; it is *confirmed* (and only then given a public
   id) after ``min_hits`` matches in consecutive frames, and dropped at its first miss. In the first
   ``min_hits`` frames of a video tracks are confirmed at once, so people visible from the start carry ids from
   the first frame. A confirmed track that is not matched is *lost*; it keeps predicting and can be re-matched
   with its old id for ``max_age`` frames after its last match, then it is *retired*. Ids come from a counter
   and are never reused, also not after retirement.

Units: 3D in mm, camera frame (x right, y down, z forward); boxes ``[x, y, w, h]`` in image px; time in frames.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Cost given to refused pairs before the assignment; any real cost is ≤ the sum of the weights, far below.
_REFUSED = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters (units in each line; frames at the video's own rate).

    Defaults are set for people walking at 0.5–2 m/s filmed at 25 fps with RootNet depths: one frame moves a root
    by 20–80 mm, while the absolute depth of a single frame is off by ~100–200 mm (RootNet's MRPE on MuPoTS-3D is
    of that order), so the gate is a few depth errors wide rather than a few steps wide: with a per-frame depth
    noise of σ = 200 mm a 600 mm gate dropped a walker for a frame in most 60-frame runs, a 1000 mm gate in none
    (``tests/test_tracking.py`` crossing scenes, 30 seeds); 1500 mm, and α–β gains of 0.2/0.03, gave the fewest
    ID switches on the bundled model's estimates of the synthetic video clips (docs/video.md). The gate grows
    100 mm per unseen frame (about the distance a fast walker covers in one frame plus the drift of an imperfect
    velocity) up to 2.5 m.
    ``max_age`` 30 frames = 1.2 s at 25 fps: long enough for one person to pass behind another.
    """

    gate_root_mm: float = 1500.0           #: mm: largest root distance (prediction ↔ person), track seen last frame
    gate_growth_mm_per_frame: float = 100.0  #: mm per frame: gate growth for every further frame the track is unseen
    gate_root_max_mm: float = 2500.0       #: mm: the gate never grows past this
    pose_scale_mm: float = 150.0           #: mm: mean per-joint pose distance at which the pose term saturates at 1
    w_root: float = 1.0                    #: weight (dimensionless) of the normalised 3D root distance
    w_iou: float = 0.5                     #: weight (dimensionless) of 1 − box IoU
    w_pose: float = 0.5                    #: weight (dimensionless) of the normalised pose distance
    max_cost: float = 1.6                  #: dimensionless: pairs costing more are refused (max possible 2.0 here)
    position_gain: float = 0.2             #: α in (0, 1]: share of the prediction error taken into the root estimate
    velocity_gain: float = 0.03            #: β in [0, α]: share of the prediction error (per frame) taken into v
    min_hits: int = 3                      #: matches in consecutive frames before a track is confirmed (≥ 1)
    max_age: int = 30                      #: frames: a lost track is kept this long after its last match (≥ 0)

    def __post_init__(self) -> None:
        for name in ("gate_root_mm", "gate_root_max_mm", "pose_scale_mm", "max_cost"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrackerConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("gate_growth_mm_per_frame", "w_root", "w_iou", "w_pose"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrackerConfig.{name} must be ≥ 0, got {getattr(self, name)}")
        if not 0.0 < self.position_gain <= 1.0 or not 0.0 <= self.velocity_gain <= self.position_gain:
            raise ValueError(f"TrackerConfig needs 0 < position_gain ≤ 1 and 0 ≤ velocity_gain ≤ position_gain, "
                             f"got {self.position_gain}, {self.velocity_gain}")
        if self.min_hits < 1 or self.max_age < 0:
            raise ValueError(f"TrackerConfig needs min_hits ≥ 1 and max_age ≥ 0, got {self.min_hits}, {self.max_age}")

    def gate_mm(self, frames_since_match: np.ndarray | int) -> np.ndarray:
        """Root gate in mm for a track last matched ``frames_since_match`` (≥ 1) frames ago."""
        k = np.maximum(np.asarray(frames_since_match, dtype=np.float64), 1.0)
        return np.minimum(self.gate_root_mm + self.gate_growth_mm_per_frame * (k - 1.0), self.gate_root_max_mm)


def _centred(joints_mm: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Poses (..., J, 3) minus their weighted joint centroid."""
    ws = np.maximum(w.sum(axis=-1, keepdims=True), 1e-9)[..., None]
    return joints_mm - (w[..., None] * joints_mm).sum(axis=-2, keepdims=True) / ws


@dataclass
class People:
    """One frame's people, as the estimator gives them (N people, J joints).

    ``roots_cam_mm`` (N, 3) absolute 3D roots, camera frame, mm; ``boxes_xywh_px`` (N, 4) person boxes in image px;
    ``joints_cam_mm`` (N, J, 3) 3D joints in mm (absolute or root-relative: the tracker centres each pose), or None
    to leave the pose term out; ``joint_conf`` (N, J) per-joint confidence in [0, 1] weighting the pose distance,
    or None for equal weights.
    """

    roots_cam_mm: np.ndarray
    boxes_xywh_px: np.ndarray
    joints_cam_mm: np.ndarray | None = None
    joint_conf: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.roots_cam_mm = np.asarray(self.roots_cam_mm, dtype=np.float64).reshape(-1, 3)
        n = len(self.roots_cam_mm)
        self.boxes_xywh_px = np.asarray(self.boxes_xywh_px, dtype=np.float64).reshape(n, 4)
        if self.joints_cam_mm is not None:
            self.joints_cam_mm = np.asarray(self.joints_cam_mm, dtype=np.float64)
            if self.joints_cam_mm.ndim != 3 or self.joints_cam_mm.shape[::2] != (n, 3):
                raise ValueError(f"joints_cam_mm must be ({n}, J, 3), got {self.joints_cam_mm.shape}")
        if self.joint_conf is not None:
            if self.joints_cam_mm is None:
                raise ValueError("joint_conf given without joints_cam_mm")
            self.joint_conf = np.asarray(self.joint_conf, dtype=np.float64).reshape(self.joints_cam_mm.shape[:2])
        # Centred once per frame here, for every track that compares against these people.
        self.pose_weights: np.ndarray | None = None
        self.centred_pose_mm: np.ndarray | None = None
        if self.joints_cam_mm is not None:
            self.pose_weights = (np.clip(self.joint_conf, 0.0, None) if self.joint_conf is not None
                                 else np.ones(self.joints_cam_mm.shape[:2]))
            self.centred_pose_mm = _centred(self.joints_cam_mm, self.pose_weights)

    def __len__(self) -> int:
        return len(self.roots_cam_mm)


@dataclass
class Track:
    """State of one track. ``track_id`` is None while tentative; positions in mm, velocities per frame."""

    key: int                         #: internal serial number (tentative tracks have one too)
    root_mm: np.ndarray              #: (3,) root estimate at ``last_frame``, camera frame, mm
    velocity_mm: np.ndarray          #: (3,) root velocity, mm/frame
    box_xywh_px: np.ndarray          #: (4,) box estimate at ``last_frame``, px
    box_velocity_px: np.ndarray      #: (2,) velocity of the box's top-left corner, px/frame
    pose_mm: np.ndarray | None       #: (J, 3) last matched pose, centred on its centroid, mm
    pose_w: np.ndarray | None        #: (J,) its joint weights
    last_frame: int                  #: frame index of the last match
    hits: int = 1                    #: consecutive matches while tentative
    track_id: int | None = None      #: public id once confirmed
    history: list[int] = field(default_factory=list)  #: frames it was matched in

    @property
    def confirmed(self) -> bool:
        return self.track_id is not None


def box_iou_xywh(a_px: np.ndarray, b_px: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of boxes ``[x, y, w, h]`` in px; boxes of zero area have IoU 0."""
    a = np.asarray(a_px, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_px, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, aw, ah = (a[:, i, None] for i in range(4))
    bx1, by1, bw, bh = (b[None, :, i] for i in range(4))
    iw = np.clip(np.minimum(ax1 + aw, bx1 + bw) - np.maximum(ax1, bx1), 0.0, None)
    ih = np.clip(np.minimum(ay1 + ah, by1 + bh) - np.maximum(ay1, by1), 0.0, None)
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class Tracker:
    """Online tracker; see the module docstring for the cost, gate and life cycle.

    >>> tr = Tracker(TrackerConfig(min_hits=1))
    >>> tr.update(0, People([[0, 0, 4000]], [[100, 100, 50, 150]]))
    [1]
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []      # tentative, confirmed and lost; retired ones are dropped
        self._next_key = 0
        self._next_id = 1                  # public ids start at 1 and only ever grow
        self._first_frame: int | None = None
        self._last_frame: int | None = None

    # ------------------------------------------------------------------ prediction and cost
    def _predict(self, tracks: Sequence[Track], t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted roots (K, 3) mm, boxes (K, 4) px and frames since the last match (K,) at frame ``t``."""
        k = np.array([t - tr.last_frame for tr in tracks], dtype=np.float64)
        roots = np.stack([tr.root_mm for tr in tracks]) + np.stack([tr.velocity_mm for tr in tracks]) * k[:, None]
        boxes = np.stack([tr.box_xywh_px for tr in tracks])
        boxes[:, :2] += np.stack([tr.box_velocity_px for tr in tracks]) * k[:, None]
        return roots, boxes, k

    def cost_matrix(self, tracks: Sequence[Track], t: int, people: People) -> np.ndarray:
        """Cost (K tracks, N people) of the module docstring, refused pairs set to ``inf``."""
        cfg = self.config
        roots, boxes, k = self._predict(tracks, t)
        gate = cfg.gate_mm(k)[:, None]
        dist = np.linalg.norm(roots[:, None] - people.roots_cam_mm[None], axis=-1)
        cost = cfg.w_root * dist / gate + cfg.w_iou * (1.0 - box_iou_xywh(boxes, people.boxes_xywh_px))
        if cfg.w_pose > 0 and people.joints_cam_mm is not None and all(tr.pose_mm is not None for tr in tracks):
            cost += cfg.w_pose * np.minimum(1.0, self._pose_distance(tracks, people) / cfg.pose_scale_mm)
        cost[(dist > gate) | (cost > cfg.max_cost)] = np.inf
        return cost

    @staticmethod
    def _pose_distance(tracks: Sequence[Track], people: People) -> np.ndarray:
        """Confidence-weighted mean per-joint distance (K, N) in mm between centred poses."""
        pw, pp = people.pose_weights, people.centred_pose_mm
        tp = np.stack([tr.pose_mm for tr in tracks])
        tw = np.stack([tr.pose_w for tr in tracks])
        if tp.shape[1] != pp.shape[1]:
            raise ValueError(f"tracks hold {tp.shape[1]} joints, people have {pp.shape[1]}")
        w = tw[:, None] * pw[None]                                              # (K, N, J)
        d = np.linalg.norm(tp[:, None] - pp[None], axis=-1)                      # (K, N, J)
        return (w * d).sum(-1) / np.maximum(w.sum(-1), 1e-9)

    def _assign(self, tracks: list[Track], t: int, people: People, free: list[int]) -> list[tuple[Track, int]]:
        if not tracks or not free:
            return []
        cost = self.cost_matrix(tracks, t, people)[:, free]
        from scipy.optimize import linear_sum_assignment  # here: the config (imported by the API) stays light

        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, _REFUSED))
        return [(tracks[r], free[c]) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]

    # ------------------------------------------------------------------ state changes
    @staticmethod
    def _pose_of(people: People, i: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Person ``i``'s centred pose (J, 3) mm and joint weights (J,), or (None, None) without joints."""
        if people.joints_cam_mm is None:
            return None, None
        return people.centred_pose_mm[i], people.pose_weights[i]

    def _new_track(self, t: int, people: People, i: int) -> Track:
        pose, pose_w = self._pose_of(people, i)
        tr = Track(key=self._next_key, root_mm=people.roots_cam_mm[i].copy(), velocity_mm=np.zeros(3),
                   box_xywh_px=people.boxes_xywh_px[i].copy(), box_velocity_px=np.zeros(2), pose_mm=pose,
                   pose_w=pose_w, last_frame=t, history=[t])
        self._next_key += 1
        return tr

    def _absorb(self, tr: Track, t: int, people: People, i: int) -> None:
        """Update a matched track with person ``i`` of frame ``t``."""
        alpha, beta = self.config.position_gain, self.config.velocity_gain
        dt = t - tr.last_frame
        err = people.roots_cam_mm[i] - (tr.root_mm + tr.velocity_mm * dt)
        tr.root_mm = tr.root_mm + tr.velocity_mm * dt + alpha * err
        tr.velocity_mm = tr.velocity_mm + (beta / dt) * err
        box = people.boxes_xywh_px[i].copy()
        err_px = box[:2] - (tr.box_xywh_px[:2] + tr.box_velocity_px * dt)
        box[:2] = tr.box_xywh_px[:2] + tr.box_velocity_px * dt + alpha * err_px
        tr.box_velocity_px = tr.box_velocity_px + (beta / dt) * err_px
        tr.box_xywh_px = box
        tr.pose_mm, tr.pose_w = self._pose_of(people, i)
        tr.hits = tr.hits + 1 if dt == 1 else 1
        tr.last_frame = t
        tr.history.append(t)

    def _confirm(self, tr: Track) -> None:
        tr.track_id = self._next_id
        self._next_id += 1

    # ------------------------------------------------------------------ the frame step
    def update(self, frame_index: int, people: People) -> list[int | None]:
        """Track one frame. Returns, for each person of ``people`` in order, its track id, or None while its
        track is still tentative. ``frame_index`` must increase from call to call (gaps are allowed: the
        prediction and the age count in frames)."""
        t = int(frame_index)
        if self._last_frame is not None and t <= self._last_frame:
            raise ValueError(f"frame_index must increase: got {t} after {self._last_frame}")
        if self._first_frame is None:
            self._first_frame = t
        self._last_frame = t
        cfg = self.config
        free = list(range(len(people)))
        ids: list[int | None] = [None] * len(people)

        confirmed = [tr for tr in self.tracks if tr.confirmed]
        tentative = [tr for tr in self.tracks if not tr.confirmed]
        matched: set[int] = set()
        for group in (confirmed, tentative):
            for tr, i in self._assign(group, t, people, free):
                self._absorb(tr, t, people, i)
                matched.add(tr.key)
                free.remove(i)
                if not tr.confirmed and tr.hits >= cfg.min_hits:
                    self._confirm(tr)
                ids[i] = tr.track_id

        # Tentative tracks die at their first miss; lost confirmed tracks retire after max_age frames.
        self.tracks = [tr for tr in self.tracks
                       if tr.key in matched or (tr.confirmed and t - tr.last_frame <= cfg.max_age)]
        early = t - self._first_frame < cfg.min_hits
        for i in free:
            tr = self._new_track(t, people, i)
            if early or cfg.min_hits <= 1:
                self._confirm(tr)
            ids[i] = tr.track_id
            self.tracks.append(tr)
        return ids

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks still kept (matched this frame or lost for ≤ ``max_age`` frames)."""
        return [tr.track_id for tr in self.tracks if tr.confirmed]


def benchmark_us_per_frame(n_people: int = 8, n_frames: int = 500, n_joints: int = 21, seed: int = 0,
                           config: TrackerConfig | None = None) -> float:
    """Mean wall-clock µs per :meth:`Tracker.update` for ``n_people`` walkers (synthetic, 25 fps, 1 m/s, RootNet-
    like depth noise), after a warm-up of 20 frames. A helper for docs/video.md, not a test.

    ``python -c "from posenet3d.tracking import benchmark_us_per_frame as b; print(f'{b():.0f} us/frame')"``
    """
    from posenet3d.timing import time_ms

    rng = np.random.default_rng(seed)
    start = np.stack([rng.uniform(-3000, 3000, n_people), rng.uniform(-200, 200, n_people),
                      rng.uniform(3000, 8000, n_people)], axis=1)
    vel = rng.normal(0.0, 1.0, (n_people, 3)) * np.array([1.0, 0.0, 1.0])
    vel = 40.0 * vel / np.maximum(np.linalg.norm(vel, axis=1, keepdims=True), 1e-9)   # 1 m/s = 40 mm/frame
    pose = rng.normal(0.0, 300.0, (n_people, n_joints, 3))
    focal = 1500.0
    frames = []
    for t in range(n_frames + 20):
        roots = start + vel * t + rng.normal(0.0, 1.0, (n_people, 3)) * np.array([10.0, 10.0, 100.0])
        cx, cy = focal * roots[:, 0] / roots[:, 2] + 960, focal * roots[:, 1] / roots[:, 2] + 540
        h = focal * 1800.0 / roots[:, 2]
        boxes = np.stack([cx - 0.2 * h, cy - 0.5 * h, 0.4 * h, h], axis=1)
        joints = roots[:, None] + pose + rng.normal(0.0, 20.0, pose.shape)
        frames.append(People(roots, boxes, joints, np.full((n_people, n_joints), 0.9)))
    tracker = Tracker(config)
    it = iter(enumerate(frames))

    def step() -> None:
        t, p = next(it)
        tracker.update(t, p)

    times = time_ms(step, runs=n_frames, warmup=20)
    return float(np.mean(times) * 1000.0)
