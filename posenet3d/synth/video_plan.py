"""The synthetic video world: clips of 2–8 people walking on a ground plane in front of a static or slowly
panning camera, with persistent ids, one built-in crossing with mutual occlusion, and people entering and
leaving the view.

This module plans a clip (everything but the pixels): :func:`plan_clip` draws from
``numpy.random.default_rng([seed, 3, clip])`` (the still world uses codes 0–2), in a fixed order, the camera
(:func:`~posenet3d.synth.scene.sample_camera`, as the still world) and its pan, the crossing pair
(:func:`~posenet3d.synth.paths.crossing_pair`), the other walkers, then each person's body shape, gait style and
clothes. :mod:`posenet3d.synth.video_render` draws the frames (background and sensor from their own streams) and
:mod:`posenet3d.synth.video` writes the files (``generate_video``).

Frames and units: the world frame of :mod:`posenet3d.synth.scene` (mm, x right, y down, z forward, camera at the
origin, ground plane ``y = camera.height_mm``); the ground tracks of :mod:`posenet3d.synth.paths` are in metres.
Frame ``n`` is at time ``n / fps`` s. The camera's yaw (degrees, about the world vertical, + turns right) is
``pan_amp_deg · sin(2π t / pan_period_s + pan_phase)``, 0 for a static camera.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import body as B
from .gait import GaitStyle, gait_angles, sample_style, stride_m
from .paths import (
    MIN_SEPARATION_M,
    Crossing,
    Goals,
    Path,
    Stage,
    crossing_duration_s,
    crossing_pair,
    min_separation_m,
    sample_crossing,
    walk,
)
from .render import Appearance, sample_appearance
from .scene import Camera, sample_camera

#: The random-stream code of video clips: clip ``n`` draws from ``default_rng([seed, VIDEO_CODE, n])``.
VIDEO_CODE = 3
#: People per clip (inclusive).
PEOPLE_RANGE = (2, 8)
#: Probability that a clip's camera pans; pan amplitude (deg) and period (s) ranges.
P_PAN, PAN_AMP_DEG, PAN_PERIOD_S = 0.5, (3.0, 10.0), (10.0, 24.0)
#: Fewest frames per clip.
MIN_FRAMES = 20
#: Gaussian smoothing (s) of the pelvis height over time (the lower foot's contact gives kinks).
PELVIS_SMOOTH_S = 0.08
#: Walker roles of the people besides the crossing pair and their probabilities: 'enter' starts out of view,
#: 'pass' starts out of view and leaves, 'leave' starts in view and leaves, 'wander' stays around.
ROLES = {"enter": 0.3, "pass": 0.25, "leave": 0.2, "wander": 0.25}
_TRIES = 12


@dataclass(frozen=True)
class PanCamera(Camera):
    """A :class:`~posenet3d.synth.scene.Camera` turned by ``yaw_deg`` about the world vertical (+ = right):
    camera → world orientation ``Ry(yaw) · Rx(−pitch) · Rz(roll)``."""

    yaw_deg: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """World → camera rotation ``R`` (3, 3): ``X_cam = R @ X_world``."""
        return (B.rot_y(self.yaw_deg) @ B.rot_x(-self.pitch_deg) @ B.rot_z(self.roll_deg)).T


@dataclass
class Walker:
    """One person of a clip, per frame: ``bodies`` (posed, world orientation relative to the pelvis),
    ``root_world_mm`` (F, 3) pelvis in the world frame, and the ground track ``path`` (metres, m/s)."""

    person_id: int
    shape: B.BodyShape
    style: GaitStyle
    look: Appearance
    path: Path
    phase_rad: np.ndarray
    bodies: list = field(repr=False)
    root_world_mm: np.ndarray = field(repr=False)


@dataclass
class ClipPlan:
    """Everything about a clip except its pixels. ``yaw_deg`` (F,) is the camera yaw per frame; ``crossing``
    and ``crossing_ids`` (near id, far id) describe the built-in crossing."""

    seed: int
    clip: int
    frames: int
    fps: float
    camera: Camera
    pan_amp_deg: float
    yaw_deg: np.ndarray
    walkers: list[Walker]
    crossing: Crossing
    crossing_ids: tuple[int, int]
    extras: dict = field(default_factory=dict, repr=False)

    def camera_at(self, frame: int) -> PanCamera:
        """The camera of frame ``frame`` (0-based)."""
        c = self.camera
        return PanCamera(c.width, c.height, c.focal, c.princpt, c.height_mm, c.pitch_deg, c.roll_deg,
                         float(self.yaw_deg[frame]))


def clip_rng(seed: int, clip: int) -> np.random.Generator:
    """The random generator of clip ``clip`` (1-based)."""
    return np.random.default_rng([int(seed), VIDEO_CODE, int(clip)])


def _substeps(fps: float) -> int:
    """Simulation steps per frame: walkers move in steps of at most 10 ms."""
    return max(1, math.ceil(100.0 / fps - 1e-9))


def _pan(rng: np.random.Generator, frames: int, fps: float) -> tuple[float, np.ndarray]:
    """(amplitude deg, yaw (F,) deg): a slow sinusoidal pan with probability :data:`P_PAN`, else static."""
    if rng.random() >= P_PAN:
        return 0.0, np.zeros(frames)
    amp, period, phase = rng.uniform(*PAN_AMP_DEG), rng.uniform(*PAN_PERIOD_S), rng.uniform(0, 2 * math.pi)
    return float(amp), amp * np.sin(2 * math.pi * np.arange(frames) / fps / period + phase)


def plan_clip(seed: int, clip: int, frames: int = 150, fps: float = 25.0, size: int = 512) -> ClipPlan:
    """Plan clip ``clip`` (1-based) of ``frames`` frames at ``fps`` frames/s and nominal image side ``size`` px."""
    if frames < MIN_FRAMES:
        raise ValueError(f"plan_clip: frames must be at least {MIN_FRAMES}, got {frames}")
    rng = clip_rng(seed, clip)
    camera = sample_camera(rng, size)
    amp, yaw = _pan(rng, frames, fps)
    stage = Stage(half_fov_rad=math.atan2(camera.width / 2.0, camera.focal[0]), pan_amp_rad=math.radians(amp))
    sub = _substeps(fps)
    steps, dt = (frames - 1) * sub, 1.0 / (fps * sub)
    num = int(rng.integers(PEOPLE_RANGE[0], PEOPLE_RANGE[1] + 1))
    crossing, paths = _plan_crossing(rng, stage, yaw, frames, fps, steps, dt, num == 2)
    for k in range(num - 2):
        role = "enter" if k == 0 else str(rng.choice(list(ROLES), p=list(ROLES.values())))
        _add_walker(rng, stage, role, paths, steps, dt, sub)
    plan = ClipPlan(seed, clip, frames, fps, camera, amp, yaw, [], crossing, (1, 2))
    if len(paths) < PEOPLE_RANGE[1] and not any(_surely_absent(plan, p.xz_m[::sub]).any() for p in paths):
        _add_walker(rng, stage, "enter", paths, steps, dt, sub)
    plan.walkers = [_make_walker(rng, pid, p, camera, fps, sub, dt) for pid, p in enumerate(paths, start=1)]
    return plan


def _plan_crossing(rng: np.random.Generator, stage: Stage, yaw_deg: np.ndarray, frames: int, fps: float,
                   steps: int, dt: float, leave: bool) -> tuple[Crossing, list[Path]]:
    """Draw the crossing near the clip's middle (its straight part inside the clip when it fits) and its two
    walkers, again until they keep :data:`~posenet3d.synth.paths.MIN_SEPARATION_M` apart. ``leave``: their
    goals before and after the crossing start with an exit."""
    duration = (frames - 1) / fps
    half = crossing_duration_s(fps) / 2 + 0.6
    for _ in range(4 * _TRIES):
        t = duration / 2 + rng.uniform(-0.15, 0.15) * duration
        t = min(max(t, half), duration - half) if duration > 2 * half else duration / 2
        yaw = math.radians(float(np.interp(t * fps, np.arange(frames), yaw_deg)))
        crossing = sample_crossing(rng, stage, t, yaw, fps)
        if crossing is None:
            continue
        near, far = crossing_pair(rng, stage, crossing, steps, dt, ("exit",) if leave else ())
        if min_separation_m(near, far) >= MIN_SEPARATION_M:
            return crossing, [near, far]
    raise RuntimeError("plan_clip: could not draw a crossing pair that keeps apart")


def _add_walker(rng: np.random.Generator, stage: Stage, role: str, paths: list[Path], steps: int, dt: float,
                sub: int) -> None:
    """Append a walker of ``role`` (:data:`ROLES`) that keeps apart from ``paths``; drop it after a few tries."""
    for _ in range(_TRIES):
        side = 1.0 if rng.random() < 0.5 else -1.0
        if role in ("enter", "pass"):
            start = stage.exit_point(rng, side)
            aim = stage.stage_point(rng) - start
            heading, speed = math.atan2(aim[0], aim[1]), float(rng.uniform(0.6, 1.8))
        else:
            start = stage.stage_point(rng)
            heading, speed = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.6, 1.8)) * (rng.random() < 0.8)
        first = {"enter": ("stage",), "pass": ("stage", "exit"), "leave": ("exit",), "wander": ()}[role]
        path = walk(rng, Goals(rng, stage, first), start, heading, speed, steps, dt)
        if all(min_separation_m(path, p, sub) >= MIN_SEPARATION_M for p in paths):
            paths.append(path)
            return


def _surely_absent(plan: ClipPlan, xz_m: np.ndarray) -> np.ndarray:
    """(F,) bool: frames in which a person standing at ground points ``xz_m`` (F, 2) m is wholly out of the
    image: the eight corners of a 1.4 m × 1.4 m × 2.1 m box around it all project beyond one image side."""
    c = plan.camera
    corners = np.array([[dx, dy, dz] for dx in (-700, 700) for dy in (0, -2100) for dz in (-700, 700)], float)
    out = np.zeros(len(xz_m), dtype=bool)
    for f, (x, z) in enumerate(xz_m):
        cam = (corners + [x * 1000.0, c.height_mm, z * 1000.0]) @ plan.camera_at(f).rotation.T
        if (cam[:, 2] <= 1.0).any():
            continue
        u = cam[:, 0] / cam[:, 2] * c.focal[0] + c.princpt[0]
        out[f] = bool((u < 0).all() or (u > c.width - 1).all())
    return out


def _make_walker(rng: np.random.Generator, pid: int, path: Path, camera: Camera, fps: float, sub: int,
                 dt: float) -> Walker:
    """A person for ``path`` (sampled every ``dt`` s): shape, gait style and clothes drawn from ``rng``; the
    gait phase integrates speed / stride; the pelvis height follows the lower sole, smoothed over time."""
    shape, style, look = B.sample_shape(rng), sample_style(rng), sample_appearance(rng)
    cycles = np.concatenate([[0.0], np.cumsum(path.speed_mps[1:] * dt / stride_m(path.speed_mps[1:],
                                                                                  shape.height_mm))])
    phase = (float(rng.uniform(0, 2 * math.pi)) + 2 * math.pi * cycles)[::sub]
    frames = path.part(0, None, sub)
    bodies = []
    for f in range(len(phase)):
        angles = gait_angles(style, float(phase[f]), float(frames.speed_mps[f]), f / fps)
        bodies.append(B.pose_body(shape, "walking", angles, math.degrees(float(frames.heading_rad[f]))))
    offset = _smooth(np.array([b.ground_offset_mm for b in bodies]), PELVIS_SMOOTH_S * fps)
    root = np.stack([frames.xz_m[:, 0] * 1000.0, camera.height_mm - offset, frames.xz_m[:, 1] * 1000.0], axis=1)
    return Walker(pid, shape, style, look, frames, phase, bodies, root)


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over the first axis with ``sigma`` samples (edges held)."""
    if sigma < 0.3:
        return values.copy()
    radius = int(math.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.concatenate([np.full(radius, values[0]), values, np.full(radius, values[-1])])
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")
