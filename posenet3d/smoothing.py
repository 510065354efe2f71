"""Temporal smoothing of 3D poses per track, in millimetres: online One-Euro filters (the root's depth by a
constant-velocity Kalman filter) and an offline zero-lag Savitzky–Golay smoother.

Sits above the tracker (``shared/design.md``, "Video adds one layer above the estimator"); arrays in, arrays out.

**One-Euro filter** (Casiez, Roussel, Vogel, CHI 2012), per scalar signal (every joint and axis on its own), with
sample period ``Te`` s (``1 / fps``, or the time since the last sample)::

    α(fc)  = 1 / (1 + τ/Te),  τ = 1 / (2π·fc)           (smoothing factor of a first-order low-pass at fc Hz)
    dx     = (x_t − x_{t−1}) / Te                        (raw speed, mm/s; the original's raw difference)
    dx̂_t   = dx̂_{t−1} + c·α(d_cutoff)·(dx − dx̂_{t−1})     (speed low-passed at d_cutoff Hz)
    fc     = min_cutoff + beta·|dx̂_t|                     (Hz; beta in Hz per mm/s, i.e. 1/mm)
    x̂_t    = x̂_{t−1} + c·α(fc)·(x_t − x̂_{t−1})

``c`` ∈ [0, 1] is the sample's confidence (the **confidence-aware** part, ours): the weight of a new sample is
scaled by it, so ``c = 1`` is the plain filter, ``c = 0`` (or a NaN sample) keeps the estimate and the speed
as they were, and in between a doubtful joint moves the estimate proportionally less. It acts like a lower cutoff
for that sample only. Confidences must be calibrated to [0, 1] by the caller (a raw heatmap peak of 0.01–0.12 is
not one).

At a constant speed ``v`` the filter is an exponential average with ``α = α(min_cutoff + beta·|v|)``, whose lag is
``(1 − α)/α`` samples = ``τ`` s (exactly, for a ramp): ``v·τ`` mm behind. So ``beta`` bounds the lag at speed:
``v·τ → 1/(2π·beta)`` mm as ``v`` grows; ``min_cutoff`` sets how hard a still joint is smoothed.

**Defaults** (:class:`SmoothingConfig`, for people walking at 0.5–2 m/s filmed at 25 fps). The root and the pose
are filtered apart, because their noises differ: the root comes from RootNet, whose depth moves ~100 mm from
frame to frame (the jitter that dominates), while its x, y come from the 2D root and move ~10 mm; the root-
relative pose comes from PoseNet (~20 mm). The root moves smoothly (a walker's body does not change speed within
a fraction of a second), so the depth gets a **constant-velocity Kalman filter** (:class:`ConstantVelocityKalman`),
which follows a steady speed without lag and smooths hard; limbs swing at up to ~2 m/s relative to the root and
need a One-Euro filter's quick speed response. The values were chosen on the bundled model's estimates of
synthetic video clips (``docs/video.md``); each choice is stated with its field. A One-Euro filter lags a moving
signal by design (``v·τ`` above) and a constant-velocity filter overshoots where a person stops or turns, so online
smoothing trades some error for much less jitter; the offline smoother has neither.

**Offline** (:func:`smooth_offline`): a Savitzky–Golay filter (``scipy.signal.savgol_filter``, local polynomial
of order 2 over a centred window, 0.8 s = 21 frames at 25 fps by default) per contiguous segment; it is
symmetric, so it has no lag, and it keeps constant velocity and acceleration intact.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

SMOOTH_MODES = ("online", "offline", "none")
ROOT_DEPTH_FILTERS = ("kalman", "one_euro")


def one_euro_alpha(cutoff_hz: np.ndarray | float, dt_s: np.ndarray | float) -> np.ndarray:
    """Smoothing factor ``α = 1 / (1 + τ/Te)``, ``τ = 1/(2π·cutoff)``, of a first-order low-pass at ``cutoff_hz``
    sampled every ``dt_s`` seconds."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / np.asarray(dt_s, dtype=np.float64))


def _sample(x, conf, dt_s: float | None, fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A filter's input: the sample as float64, its confidence in [0, 1] per element (None = 1; NaN elements 0) and
    the sample period (s; ``1/fps`` when ``dt_s`` is None)."""
    x = np.asarray(x, dtype=np.float64)
    c = np.ones(x.shape) if conf is None else np.broadcast_to(np.clip(np.asarray(conf, np.float64), 0, 1), x.shape)
    c = np.where(np.isfinite(x), c, 0.0)
    dt = 1.0 / fps if dt_s is None else float(dt_s)
    if not dt > 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    return x, c, dt


@dataclass(frozen=True)
class OneEuroParams:
    """One-Euro parameters: ``min_cutoff_hz`` (Hz) cutoff at rest; ``beta_per_mm`` (Hz per mm/s = 1/mm) cutoff
    increase per unit speed; ``d_cutoff_hz`` (Hz) cutoff of the speed estimate."""

    min_cutoff_hz: float
    beta_per_mm: float
    d_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff_hz > 0 and self.d_cutoff_hz > 0 and self.beta_per_mm >= 0):
            raise ValueError(f"One-Euro needs min_cutoff_hz > 0, d_cutoff_hz > 0, beta_per_mm ≥ 0: {self}")


class OneEuroFilter:
    """Online One-Euro filter over arrays of any fixed shape (e.g. (J, 3) joints in mm), every element its own
    1D filter. Parameters may be scalars or arrays broadcastable to the sample shape (e.g. a (3,) per axis).

    ``fps`` (Hz) gives the default sample period; pass ``dt_s`` to a call when samples are not evenly spaced.
    """

    def __init__(self, fps: float, min_cutoff_hz=1.0, beta_per_mm=0.0, d_cutoff_hz=1.0) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.min_cutoff_hz = np.asarray(min_cutoff_hz, dtype=np.float64)
        self.beta_per_mm = np.asarray(beta_per_mm, dtype=np.float64)
        self.d_cutoff_hz = np.asarray(d_cutoff_hz, dtype=np.float64)
        if np.any(self.min_cutoff_hz <= 0) or np.any(self.d_cutoff_hz <= 0) or np.any(self.beta_per_mm < 0):
            raise ValueError("One-Euro needs min_cutoff_hz > 0, d_cutoff_hz > 0 and beta_per_mm ≥ 0")
        self.reset()

    @classmethod
    def from_params(cls, fps: float, params: OneEuroParams) -> OneEuroFilter:
        return cls(fps, params.min_cutoff_hz, params.beta_per_mm, params.d_cutoff_hz)

    def reset(self) -> None:
        """Forget the state: the next sample passes through unchanged."""
        self.x_hat: np.ndarray | None = None     # filtered value, mm
        self.dx_hat: np.ndarray | None = None    # filtered speed, mm/s
        self.x_last: np.ndarray | None = None    # last raw sample with confidence > 0, mm
        self.age_s: np.ndarray | None = None     # seconds since x_last, per element

    def __call__(self, x, conf=None, dt_s: float | None = None) -> np.ndarray:
        """Filter one sample ``x`` (mm) with confidence ``conf`` (broadcastable to ``x``, in [0, 1]; None = 1;
        NaN elements of ``x`` count as confidence 0). Returns the filtered sample (a new array)."""
        x, c, dt = _sample(x, conf, dt_s, self.fps)
        if self.x_hat is None:
            # Elements never seen with confidence > 0 stay NaN until they are.
            self.x_hat = np.where(c > 0, x, np.nan)
            self.x_last = self.x_hat.copy()
            self.dx_hat = np.zeros(x.shape)
            self.age_s = np.zeros(x.shape)
            return self.x_hat.copy()
        if x.shape != self.x_hat.shape:
            raise ValueError(f"sample shape {x.shape} differs from the filter's {self.x_hat.shape}")
        self.age_s = self.age_s + dt
        new = (c > 0) & ~np.isfinite(self.x_hat)       # first valid sample of an element: take it as it is
        xs = np.where(c > 0, x, self.x_hat)            # elements with c = 0 must not move (nor spread NaN)
        dx = np.where(np.isfinite(self.x_last) & (c > 0), (xs - self.x_last) / self.age_s, self.dx_hat)
        self.dx_hat = self.dx_hat + c * one_euro_alpha(self.d_cutoff_hz, dt) * (dx - self.dx_hat)
        self.dx_hat = np.where(new, 0.0, self.dx_hat)
        cutoff = self.min_cutoff_hz + self.beta_per_mm * np.abs(self.dx_hat)
        self.x_hat = np.where(new, xs, self.x_hat + c * one_euro_alpha(cutoff, dt) * (xs - self.x_hat))
        self.x_last = np.where(c > 0, xs, self.x_last)
        self.age_s = np.where(c > 0, 0.0, self.age_s)
        return self.x_hat.copy()


@dataclass(frozen=True)
class KalmanParams:
    """Constant-velocity Kalman parameters: ``measurement_sd_mm`` (mm) the noise of one sample at confidence 1;
    ``accel_sd_mm_s2`` (mm/s²) the white-noise acceleration that lets the true value change speed;
    ``speed0_sd_mm_s`` (mm/s) the spread of the unknown speed when a track starts."""

    measurement_sd_mm: float = 100.0
    accel_sd_mm_s2: float = 1000.0
    speed0_sd_mm_s: float = 1000.0

    def __post_init__(self) -> None:
        if not (self.measurement_sd_mm > 0 and self.accel_sd_mm_s2 > 0 and self.speed0_sd_mm_s > 0):
            raise ValueError(f"Kalman needs measurement_sd_mm, accel_sd_mm_s2 and speed0_sd_mm_s > 0: {self}")


class ConstantVelocityKalman:
    """Online constant-velocity Kalman filter over arrays of any fixed shape (every element its own 1D filter of
    value, mm, and speed, mm/s); same call as :class:`OneEuroFilter`.

    Model: the speed changes by white-noise acceleration of s.d. ``accel_sd`` (a sample period ``Te`` apart:
    process covariance ``accel_sd²·g·gᵀ``, ``g = (Te²/2, Te)``); a sample is the value plus noise of s.d.
    ``measurement_sd / √c`` (``c`` ∈ (0, 1] its confidence). ``c = 0`` or NaN: no update, the estimate coasts at
    its speed. A new element starts at its first sample with speed 0 ± ``speed0_sd``. At a constant speed the
    steady-state filter has **no lag** (a One-Euro filter trails by ``v·τ``); its gains are those of an α–β filter
    with ``β = 2(2 − α) − 4√(1 − α)`` and ``β²/(1 − α) = λ²``, ``λ = accel_sd·Te²/measurement_sd`` (Kalata's
    tracking index). With the depth defaults at 25 fps: λ = 0.016, α = 0.164, β = 0.0146.
    """

    def __init__(self, fps: float, measurement_sd_mm=100.0, accel_sd_mm_s2=1000.0, speed0_sd_mm_s=1000.0) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.r = float(measurement_sd_mm) ** 2
        self.q = float(accel_sd_mm_s2) ** 2
        self.v0 = float(speed0_sd_mm_s) ** 2
        if not (self.r > 0 and self.q > 0 and self.v0 > 0):
            raise ValueError("Kalman needs measurement_sd_mm, accel_sd_mm_s2 and speed0_sd_mm_s > 0")
        self.reset()

    @classmethod
    def from_params(cls, fps: float, params: KalmanParams) -> ConstantVelocityKalman:
        return cls(fps, params.measurement_sd_mm, params.accel_sd_mm_s2, params.speed0_sd_mm_s)

    def reset(self) -> None:
        """Forget the state: the next sample passes through unchanged."""
        self.x_hat: np.ndarray | None = None   # value, mm
        self.v_hat: np.ndarray | None = None   # speed, mm/s
        self.p: np.ndarray | None = None       # (..., 3) covariance entries: var(x), cov(x, v), var(v)
        self._gains: tuple[np.ndarray, np.ndarray] | None = None

    def gains(self) -> tuple[np.ndarray, np.ndarray]:
        """The last update's gains ``(α, β)`` per element: α on the value, β = gain on the speed × ``Te``."""
        if self._gains is None:
            raise ValueError("no sample filtered yet: no gains")
        return self._gains

    def __call__(self, x, conf=None, dt_s: float | None = None) -> np.ndarray:
        """Filter one sample ``x`` (mm) with confidence ``conf`` (broadcastable to ``x``, in [0, 1]; None = 1;
        NaN elements count as confidence 0). Returns the filtered sample (a new array)."""
        x, c, dt = _sample(x, conf, dt_s, self.fps)
        if self.x_hat is None:
            self.x_hat, self.v_hat = np.full(x.shape, np.nan), np.zeros(x.shape)
            self.p = np.zeros(x.shape + (3,))
        elif x.shape != self.x_hat.shape:
            raise ValueError(f"sample shape {x.shape} differs from the filter's {self.x_hat.shape}")
        seen = np.isfinite(self.x_hat)
        # predict: x += v·dt; P = F P Fᵀ + q·g gᵀ
        pxx, pxv, pvv = self.p[..., 0], self.p[..., 1], self.p[..., 2]
        self.x_hat = np.where(seen, self.x_hat + self.v_hat * dt, self.x_hat)
        pxx = pxx + 2 * dt * pxv + dt * dt * pvv + self.q * dt ** 4 / 4
        pxv = pxv + dt * pvv + self.q * dt ** 3 / 2
        pvv = pvv + self.q * dt * dt
        # update the elements with a sample
        upd = seen & (c > 0)
        r = self.r / np.where(c > 0, c, 1.0)
        k_x, k_v = pxx / (pxx + r), pxv / (pxx + r)
        k_x, k_v = np.where(upd, k_x, 0.0), np.where(upd, k_v, 0.0)
        resid = np.where(upd, x - self.x_hat, 0.0)
        self.x_hat = self.x_hat + k_x * resid
        self.v_hat = self.v_hat + k_v * resid
        pxx, pxv, pvv = (1 - k_x) * pxx, (1 - k_x) * pxv, pvv - k_v * pxv
        # a first sample of an element starts it: value = sample, speed 0 ± speed0_sd
        new = ~seen & (c > 0)
        self.x_hat = np.where(new, x, self.x_hat)
        self.v_hat = np.where(new, 0.0, self.v_hat)
        pxx, pxv, pvv = np.where(new, r, pxx), np.where(new, 0.0, pxv), np.where(new, self.v0, pvv)
        self.p = np.stack([pxx, pxv, pvv], axis=-1)
        self._gains = (np.where(new, 1.0, k_x), k_v * dt)
        return self.x_hat.copy()


class RootFilter:
    """The root's filter, on one (3,) root in mm: x, y by One-Euro (``root_xy``); the depth z by the
    constant-velocity Kalman filter (``root_depth_kalman``) or, with ``root_depth_filter: one_euro``, by One-Euro
    (``root_depth``)."""

    def __init__(self, config: SmoothingConfig) -> None:
        kalman = config.root_depth_filter == "kalman"
        p = (config.root_xy, config.root_xy) + (() if kalman else (config.root_depth,))
        self.one_euro = OneEuroFilter(config.fps, [q.min_cutoff_hz for q in p], [q.beta_per_mm for q in p],
                                      [q.d_cutoff_hz for q in p])
        self.depth = ConstantVelocityKalman.from_params(config.fps, config.root_depth_kalman) if kalman else None

    @property
    def x_hat(self) -> np.ndarray | None:
        return self.one_euro.x_hat

    def __call__(self, x, conf=None, dt_s: float | None = None) -> np.ndarray:
        """Filter one (3,) root ``x`` (mm) with confidence ``conf`` (scalar, (1,) or per axis (3,); None = 1)."""
        x = np.asarray(x, dtype=np.float64)
        if self.depth is None:
            return self.one_euro(x, conf, dt_s)
        c = np.ones(3) if conf is None else np.broadcast_to(np.asarray(conf, dtype=np.float64).reshape(-1), (3,))
        return np.concatenate([self.one_euro(x[:2], c[:2], dt_s), self.depth(x[2:], c[2:], dt_s)])


@dataclass(frozen=True)
class SmoothingConfig:
    """Smoother parameters (frequencies in Hz, beta in 1/mm, windows in s). See the module docstring.

    * ``root_xy`` — min cutoff 1.0 Hz, beta 0.005 /mm: the root's image-plane position is precise (~10 mm), so
      light smoothing at rest and an opening with speed: at 1.5 m/s the cutoff is 8.5 Hz.
    * ``root_depth_filter`` — ``kalman`` (default) or ``one_euro``: depth noise (~100 mm a frame) dominates the
      jitter, and a walker's depth changes at a steady speed, which a constant-velocity filter follows without lag.
    * ``root_depth_kalman`` — measurement s.d. 100 mm (RootNet's frame-to-frame depth noise), acceleration s.d.
      1000 mm/s² (a walker speeds up, slows down, turns), initial speed s.d. 1000 mm/s (0.5–2 m/s walkers).
    * ``root_depth`` — the One-Euro alternative: min cutoff 0.3 Hz, beta 0.003 /mm, speed cutoff 0.2 Hz (the
      speed that opens the filter is low-passed, so frame-to-frame depth noise hardly opens it).
    * ``pose`` — min cutoff 1.0 Hz, beta 0.002 /mm on root-relative joints: limbs at rest jitter by ~20 mm; a
      wrist swinging at 2 m/s lifts the cutoff to 5 Hz.
    * ``d_cutoff_hz`` 1 Hz elsewhere, the original's value; ``offline_window_s`` 0.8 s (21 frames at 25 fps).
    The values were chosen on the bundled model's estimates of the 10 synthetic video clips of seed 0 and checked on
    4 clips of seed 1 (``posenet3d eval-video`` with ``smoothing.*`` overrides, docs/video.md): the online filter's
    acceleration error against raw falls as the filter closes while its MRPE grows (lag).
    """

    fps: float = 25.0                  #: Hz, the video's frame rate (frame indices are converted with it)
    root_xy: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 0.005))
    root_depth_filter: str = "kalman"  #: the root depth's filter: kalman | one_euro
    root_depth_kalman: KalmanParams = field(default_factory=KalmanParams)
    root_depth: OneEuroParams = field(default_factory=lambda: OneEuroParams(0.3, 0.003, 0.2))
    pose: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 0.002))
    offline_window_s: float = 0.8      #: s, Savitzky–Golay window (rounded to an odd number of frames)
    offline_polyorder: int = 2         #: Savitzky–Golay polynomial order
    offline_stitch_gap_s: float = 4.0  #: s, offline only: a track starting up to this long after another ended, near
                                       #: where that one was heading, continues it (same id); 0 = off
    offline_fill_gap_s: float = 1.2    #: s, offline only: a track's gaps up to this long (a person hidden behind
                                       #: another) are filled by linear interpolation; 0 = off

    def __post_init__(self) -> None:
        if self.root_depth_filter not in ROOT_DEPTH_FILTERS:
            raise ValueError(f"root_depth_filter must be one of {ROOT_DEPTH_FILTERS}, got {self.root_depth_filter!r}")

    def root_filter(self) -> RootFilter:
        """A filter for one (3,) root: x, y with ``root_xy``, z by ``root_depth_filter``."""
        return RootFilter(self)

    def pose_filter(self) -> OneEuroFilter:
        return OneEuroFilter.from_params(self.fps, self.pose)


class TrackSmoother:
    """Online smoothing of every track's absolute 3D joints (camera frame, mm): the root (``joints[root_idx]``)
    and the root-relative pose are filtered apart (see :class:`SmoothingConfig`) and added back together.

    One filter state per track id; a track id seen for the first time starts fresh (its first frame passes
    through), and a track that comes back after a gap continues with the gap as its sample period.
    """

    def __init__(self, root_idx: int, config: SmoothingConfig | None = None) -> None:
        self.root_idx = int(root_idx)
        self.config = config or SmoothingConfig()
        self._state: dict[int, tuple[OneEuroFilter, OneEuroFilter, int]] = {}

    def update(self, frame_index: int, track_id: int, joints_cam_mm: np.ndarray,
               joint_conf: np.ndarray | None = None) -> np.ndarray:
        """Smoothed (J, 3) joints (mm) of ``track_id`` at ``frame_index`` from its raw ``joints_cam_mm`` (J, 3);
        ``joint_conf`` (J,) in [0, 1] (None = all 1); the root uses its joint's confidence."""
        j = np.asarray(joints_cam_mm, dtype=np.float64)
        root = j[self.root_idx]
        conf = None if joint_conf is None else np.asarray(joint_conf, dtype=np.float64).reshape(-1, 1)
        if track_id not in self._state:
            self._state[track_id] = (self.config.root_filter(), self.config.pose_filter(), frame_index)
        f_root, f_pose, last = self._state[track_id]
        if frame_index <= last and f_root.x_hat is not None:
            raise ValueError(f"track {track_id}: frame {frame_index} is not after its last frame {last}")
        dt = max(frame_index - last, 1) / self.config.fps
        root_s = f_root(root, None if conf is None else conf[self.root_idx], dt)
        rel_s = f_pose(j - root, conf, dt)
        self._state[track_id] = (f_root, f_pose, frame_index)
        return root_s + rel_s

    def retain(self, track_ids: Iterable[int]) -> None:
        """Forget every track not in ``track_ids`` (e.g. the tracker's ``active_ids``), to bound the memory."""
        keep = set(track_ids)
        self._state = {k: v for k, v in self._state.items() if k in keep}

    def __contains__(self, track_id: int) -> bool:
        return track_id in self._state


def offline_window_frames(window_s: float, fps: float) -> int:
    """Odd window length in frames for ``window_s`` seconds at ``fps`` Hz (at least 3): 0.4 s at 25 fps → 11."""
    return max(3, 2 * int(round(window_s * fps / 2.0)) + 1)


def smooth_offline(x: np.ndarray, fps: float = 25.0, window_s: float = 0.4, polyorder: int = 2,
                   frames: np.ndarray | None = None) -> np.ndarray:
    """Zero-lag Savitzky–Golay smoothing of one whole track ``x`` (T, ..., 3) in mm along time (axis 0).

    The track is cut into contiguous segments at rows holding a NaN and, when ``frames`` (T,) frame indices are
    given, wherever they jump by more than one; each segment is smoothed alone (edges by a polynomial fit to the
    edge window, scipy's ``mode='interp'``), so no value is invented across a gap. A segment shorter than the
    window uses the longest odd window that fits; one of ``polyorder + 1`` frames or fewer is left as it is.
    NaN rows stay NaN. Returns a new array.
    """
    from scipy.signal import savgol_filter  # here: the config (imported by the API) stays light

    a = np.asarray(x, dtype=np.float64)
    out = a.copy()
    if a.shape[0] == 0:
        return out
    window = offline_window_frames(window_s, fps)
    valid = np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    breaks = ~valid
    cut = np.zeros(len(a), dtype=bool)
    if frames is not None:
        f = np.asarray(frames).reshape(-1)
        if f.shape != (len(a),):
            raise ValueError(f"frames must be ({len(a)},), got {f.shape}")
        cut[1:] = np.diff(f) != 1
    start = None
    for t in range(len(a) + 1):
        boundary = t == len(a) or breaks[t] or cut[t]
        if boundary and start is not None:
            seg = slice(start, t)
            n = t - start
            w = min(window, n if n % 2 else n - 1)
            if w > polyorder:
                out[seg] = savgol_filter(a[seg], w, polyorder, axis=0, mode="interp")
            start = None
        if t < len(a) and not breaks[t] and start is None:
            start = t
    return out


def smooth_track(joints_cam_mm: np.ndarray, mode: str, root_idx: int, config: SmoothingConfig | None = None,
                 frames: np.ndarray | None = None, joint_conf: np.ndarray | None = None) -> np.ndarray:
    """Smooth one whole track (T, J, 3) mm by ``mode`` (``--smooth online|offline|none``).

    ``frames`` (T,) increasing frame indices (None: 0..T−1); ``joint_conf`` (T, J) for the online filter. NaN rows
    (frames without the person) are skipped by both smoothers and stay NaN.
    """
    if mode not in SMOOTH_MODES:
        raise ValueError(f"mode must be one of {SMOOTH_MODES}, got {mode!r}")
    cfg = config or SmoothingConfig()
    j = np.asarray(joints_cam_mm, dtype=np.float64)
    if mode == "none":
        return j.copy()
    f = np.arange(len(j)) if frames is None else np.asarray(frames).reshape(-1)
    if mode == "offline":
        return smooth_offline(j, cfg.fps, cfg.offline_window_s, cfg.offline_polyorder, frames=f)
    smoother = TrackSmoother(root_idx, cfg)
    out = np.full_like(j, np.nan)
    for t in range(len(j)):
        if np.isfinite(j[t]).all():
            out[t] = smoother.update(int(f[t]), 0, j[t], None if joint_conf is None else joint_conf[t])
    return out
