"""One-Euro filter against its formula (step, sine, ramp), confidence, per-track state, the constant-velocity Kalman
filter of the root depth (Kalata's steady state, no ramp lag, coasting), the offline smoother, and both smoothers
on a noisy synthetic walker.

``PYTHONPATH=. python tests/test_smoothing.py`` prints the walker figures quoted in docs/video.md.
"""
import numpy as np
import pytest

from posenet3d.evaluation.video import acceleration_error, jitter
from posenet3d.smoothing import (
    ConstantVelocityKalman,
    OneEuroFilter,
    SmoothingConfig,
    TrackSmoother,
    offline_window_frames,
    smooth_offline,
    smooth_track,
)

FPS = 25.0


def expected_alpha(cutoff_hz: float, fps: float = FPS) -> float:
    """α of a first-order low-pass written out again here: 1 / (1 + τ·fps), τ = 1 / (2π·fc)."""
    return 1.0 / (1.0 + fps / (2.0 * np.pi * cutoff_hz))


def run(f: OneEuroFilter, xs) -> np.ndarray:
    return np.array([f(np.array([x]))[0] for x in xs])


def test_step_response_is_the_first_order_formula():
    f = OneEuroFilter(FPS, min_cutoff_hz=2.0, beta_per_mm=0.0)
    y = run(f, [0.0] + [100.0] * 30)            # a 100 mm step after the first sample
    a = expected_alpha(2.0)
    n = np.arange(31)
    assert np.allclose(y, 100.0 * (1.0 - (1.0 - a) ** n))
    # 63 % of the step after about τ = 1/(2π·2 Hz) = 80 ms = 2 frames: the discrete filter gets there at n = 3
    assert np.argmax(y >= 100.0 * (1 - np.exp(-1))) == 3


@pytest.mark.parametrize("freq_hz", [0.5, 2.0, 5.0])
def test_sine_gain_and_phase_are_the_first_order_formula(freq_hz):
    cutoff = 1.5
    f = OneEuroFilter(FPS, min_cutoff_hz=cutoff, beta_per_mm=0.0)
    t = np.arange(600) / FPS
    y = run(f, 50.0 * np.sin(2 * np.pi * freq_hz * t))
    tail = slice(300, None)                      # transient gone: (1 − α)^300 ≈ 0
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t[tail]), np.cos(2 * np.pi * freq_hz * t[tail])], axis=1)
    (s, c), *_ = np.linalg.lstsq(basis, y[tail], rcond=None)
    gain, phase = np.hypot(s, c) / 50.0, np.arctan2(c, s)
    a = expected_alpha(cutoff)
    h = a / (1.0 - (1.0 - a) * np.exp(-1j * 2 * np.pi * freq_hz / FPS))     # EMA frequency response
    assert gain == pytest.approx(abs(h), rel=1e-6)
    assert phase == pytest.approx(np.angle(h), abs=1e-6)
    assert gain < 1.0 and phase < 0.0          # attenuated and late


def test_ramp_lag_follows_the_speed_dependent_cutoff():
    """At constant speed v the filtered speed converges to v, the cutoff to min_cutoff + beta·v, and the output
    trails the input by v·Te·(1 − α)/α."""
    v_mm_s = 1500.0
    f = OneEuroFilter(FPS, min_cutoff_hz=0.5, beta_per_mm=0.004, d_cutoff_hz=1.0)
    x = v_mm_s * np.arange(400) / FPS
    y = run(f, x)
    a = expected_alpha(0.5 + 0.004 * v_mm_s)
    assert x[-1] - y[-1] == pytest.approx(v_mm_s / FPS * (1 - a) / a, rel=1e-6)
    assert f.dx_hat[0] == pytest.approx(v_mm_s)
    slow = run(OneEuroFilter(FPS, min_cutoff_hz=0.5, beta_per_mm=0.0), x)
    assert x[-1] - slow[-1] > 3 * (x[-1] - y[-1])   # beta is what removes most of the lag


def test_confidence_scales_the_sample_weight():
    f = OneEuroFilter(FPS, min_cutoff_hz=1.0, beta_per_mm=0.0)
    f(np.array([0.0, 0.0]))
    a = expected_alpha(1.0)
    y = f(np.array([100.0, 100.0]), conf=np.array([0.5, 0.0]))
    assert y == pytest.approx([0.5 * a * 100.0, 0.0])
    held = f(np.array([np.nan, 100.0]), conf=np.array([1.0, 0.0]))       # NaN: held as confidence 0
    assert held == pytest.approx([0.5 * a * 100.0, 0.0])
    with pytest.raises(ValueError):
        f(np.zeros(3))


def test_kalman_steady_state_gains_are_kalatas_alpha_beta():
    """Against Kalata's closed form for the white-noise-acceleration model: β = 2(2 − α) − 4√(1 − α) and
    β²/(1 − α) = λ², λ = accel_sd·Te²/measurement_sd; and α solved from λ alone."""
    rng = np.random.default_rng(0)
    for meas, acc in [(100.0, 1000.0), (50.0, 4000.0), (200.0, 300.0)]:
        f = ConstantVelocityKalman(FPS, meas, acc)
        for _ in range(600):
            f(np.array([rng.normal(0.0, meas)]))
        a, b = (float(g[0]) for g in f.gains())
        lam = acc / FPS ** 2 / meas
        assert b == pytest.approx(2 * (2 - a) - 4 * np.sqrt(1 - a), rel=1e-9)
        assert b * b / (1 - a) == pytest.approx(lam * lam, rel=1e-9)
        # α from λ: r = (4 + λ − √(8λ + λ²))/4, α = 1 − r² (the steady-state solution written out again)
        r = (4 + lam - np.sqrt(8 * lam + lam * lam)) / 4
        assert a == pytest.approx(1 - r * r, rel=1e-9)


def test_kalman_follows_a_constant_speed_without_lag_where_one_euro_trails():
    v = 1500.0  # mm/s, a brisk walk in depth
    xs = 4000.0 + v * np.arange(200) / FPS
    kal = run(ConstantVelocityKalman(FPS), xs)
    oe = run(OneEuroFilter(FPS, min_cutoff_hz=0.3, beta_per_mm=0.003, d_cutoff_hz=0.2), xs)
    assert kal[0] == xs[0]                                   # the first sample passes through
    assert np.abs(kal[-50:] - xs[-50:]).max() < 1e-3         # steady state: no lag
    assert (xs[-50:] - oe[-50:]).min() > 20.0                # One-Euro trails by v·τ


def test_kalman_confidence_and_missing_samples():
    f = ConstantVelocityKalman(FPS)
    first = f(np.array([np.nan, 1000.0]))
    assert np.isnan(first[0]) and first[1] == 1000.0         # an element starts at its first valid sample
    for k in range(1, 60):                                   # a steady 25 mm a frame (625 mm/s)
        out = f(np.array([np.nan if k < 5 else 2000.0 + 25.0 * k, 1000.0 + 25.0 * k]))
    assert out[1] == pytest.approx(1000.0 + 25.0 * 59, abs=1.0)
    coast = f(np.array([np.nan, np.nan]), conf=np.array([1.0, 1.0]))   # no sample: it coasts at its speed
    assert coast[1] == pytest.approx(1000.0 + 25.0 * 60, abs=1.0)
    held = f(np.array([0.0, 0.0]), conf=0.0)                # confidence 0 is no sample either
    assert held[1] == pytest.approx(1000.0 + 25.0 * 61, abs=1.0)
    # a doubtful sample moves the estimate less than a sure one, from the same state
    sure, doubtful = ConstantVelocityKalman(FPS), ConstantVelocityKalman(FPS)
    for _ in range(30):
        sure(np.array([1000.0])), doubtful(np.array([1000.0]))
    step = sure(np.array([1500.0]))[0] - 1000.0
    small = doubtful(np.array([1500.0]), conf=0.25)[0] - 1000.0
    assert 0 < small < step
    with pytest.raises(ValueError, match="dt_s"):
        sure(np.array([1.0]), dt_s=0.0)
    with pytest.raises(ValueError, match="> 0"):
        ConstantVelocityKalman(FPS, measurement_sd_mm=0.0)
    with pytest.raises(ValueError, match="no gains"):
        ConstantVelocityKalman(FPS).gains()
    with pytest.raises(ValueError, match="root_depth_filter"):
        SmoothingConfig(root_depth_filter="median")


def test_root_depth_filter_choice():
    gt, raw = noisy_walker(0)
    depth = {}
    for name in ("kalman", "one_euro"):
        out = smooth_track(raw, "online", 0, SmoothingConfig(root_depth_filter=name))
        depth[name] = np.abs(out[:, 0, 2] - gt[:, 0, 2]).mean()
        assert np.allclose(out[:, 0, :2], smooth_track(raw, "online", 0)[:, 0, :2])  # x, y: One-Euro either way
    assert depth["kalman"] < depth["one_euro"]               # no lag on a walker speeding up to 2 m/s


def test_track_smoother_keeps_one_state_per_track():
    s = TrackSmoother(root_idx=0, config=SmoothingConfig(fps=FPS))
    pose = np.array([[0.0, 0.0, 4000.0], [0.0, -500.0, 4000.0]])
    other = pose + np.array([2000.0, 0.0, 1000.0])
    assert np.allclose(s.update(0, 1, pose), pose)            # a new track's first frame passes through
    moved = s.update(1, 1, pose + np.array([0.0, 0.0, 200.0]))
    assert 4000.0 < moved[0, 2] < 4200.0                       # depth smoothed, not copied
    assert np.allclose(moved[1] - moved[0], pose[1] - pose[0])  # the rigid pose moved with its root
    assert np.allclose(s.update(1, 2, other), other)          # track 2 starts fresh, untouched by track 1
    s.retain([2])
    assert 1 not in s and 2 in s
    assert np.allclose(s.update(5, 1, other), other)          # forgotten → fresh again
    with pytest.raises(ValueError, match="not after"):
        s.update(5, 1, other)


def test_offline_is_zero_lag_on_polynomials_and_respects_gaps():
    t = np.arange(40, dtype=np.float64)
    x = np.zeros((40, 2, 3))
    x[:, 0, 0] = 3.0 * t                                  # constant speed
    x[:, 1, 2] = 0.5 * t ** 2                             # constant acceleration
    assert np.allclose(smooth_offline(x, FPS), x)         # order-2 Savitzky–Golay keeps both exactly
    noisy = x + np.random.default_rng(0).normal(0, 20.0, x.shape)
    gapped = noisy.copy()
    gapped[20] = np.nan
    out = smooth_offline(gapped, FPS)
    assert np.isnan(out[20]).all()
    assert np.allclose(out[:20], smooth_offline(noisy[:20], FPS))
    assert np.allclose(out[21:], smooth_offline(noisy[21:], FPS))
    jumped = smooth_offline(noisy, FPS, frames=np.r_[np.arange(20), np.arange(30, 50)])
    assert np.allclose(jumped[:20], out[:20])
    short = noisy[:3]                                     # too short for order 2 + a window: left as it is
    assert np.allclose(smooth_offline(short, FPS), short)
    assert offline_window_frames(0.4, 25.0) == 11 and offline_window_frames(0.4, 50.0) == 21


def noisy_walker(seed: int, n_frames: int = 250, depth_noise_mm: float = 80.0):
    """A person walking diagonally (x and depth) at a speed rising from 0.5 to 2 m/s and back over 10 s at 25 fps,
    six limb joints swinging ±300 mm at 1 Hz; RootNet-like noise: root x, y σ 10 mm, depth σ ``depth_noise_mm``;
    root-relative joints σ 20 mm (x, y) and 30 mm (z). Returns ground truth and raw (T, 17, 3) mm, root = 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FPS
    speed = np.interp(t, [0, t[-1] / 2, t[-1]], [500.0, 2000.0, 500.0])
    heading = np.array([np.cos(0.6), 0.0, np.sin(0.6)])
    root = np.array([-3000.0, 0.0, 4000.0]) + (np.cumsum(speed) / FPS)[:, None] * heading
    template = np.random.default_rng(1).normal(0.0, 250.0, (17, 3))
    template[0] = 0.0
    swing = np.zeros((n_frames, 17, 3))
    for j, phase in [(3, 0.0), (4, 0.0), (6, np.pi), (7, np.pi), (11, np.pi), (14, 0.0)]:
        swing[:, j] = 300.0 * np.sin(2 * np.pi * t + phase)[:, None] * heading
    gt = root[:, None] + template + swing
    rel_noise = rng.normal(0.0, 1.0, gt.shape) * np.array([20.0, 20.0, 30.0])
    rel_noise[:, 0] = 0.0
    root_noise = rng.normal(0.0, 1.0, (n_frames, 3)) * np.array([10.0, 10.0, depth_noise_mm])
    return gt, gt + rel_noise + root_noise[:, None]


def walker_figures(seeds=range(4), config: SmoothingConfig | None = None) -> dict[str, tuple[float, float, float]]:
    """Mean absolute MPJPE (mm), acceleration error and jitter (mm/frame²) of raw / online / offline on walkers."""
    out = {}
    for mode in ("none", "online", "offline"):
        rows = []
        for seed in seeds:
            gt, raw = noisy_walker(seed)
            sm = smooth_track(raw, mode, root_idx=0, config=config)
            rows.append((np.linalg.norm(sm - gt, axis=-1).mean(), acceleration_error(sm, gt), jitter(sm)))
        out[mode] = tuple(float(v) for v in np.mean(rows, axis=0))
    return out


def test_both_smoothers_reduce_error_and_jitter_on_a_noisy_walker():
    fig = walker_figures(seeds=range(2))
    raw, online, offline = fig["none"], fig["online"], fig["offline"]
    # online: much less acceleration error for at most a small lag cost (the defaults trade these on real estimates)
    assert online[0] < raw[0] + 5.0 and online[1] < 0.5 * raw[1]
    assert offline[0] < online[0] and offline[1] < online[1]
    assert fig["online"][2] < raw[2]


def test_smooth_track_modes():
    gt, raw = noisy_walker(0, n_frames=30)
    assert np.array_equal(smooth_track(raw, "none", 0), raw)
    with pytest.raises(ValueError, match="mode"):
        smooth_track(raw, "kalman", 0)
    gapped = raw.copy()
    gapped[10] = np.nan
    for mode in ("online", "offline"):
        out = smooth_track(gapped, mode, 0)
        assert np.isnan(out[10]).all() and np.isfinite(np.delete(out, 10, axis=0)).all()


if __name__ == "__main__":
    for depth in ("kalman", "one_euro"):
        print(f"root_depth_filter: {depth}")
        for mode, (err, acc, jit) in walker_figures(config=SmoothingConfig(root_depth_filter=depth)).items():
            print(f"  {mode:8s} MPJPE {err:6.1f} mm   accel error {acc:6.1f} mm/frame²   jitter {jit:6.1f} mm/frame²")
