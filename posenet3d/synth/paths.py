"""Smooth walking paths on the ground plane for the video world: goal-seeking walkers, stops, and a built-in
crossing of two people at different depths.

Frame: the ground plane of :mod:`posenet3d.synth.scene` seen from above, in **metres**: ``x`` right, ``z``
forward, the camera at the origin and looking along +z at yaw 0. A heading ``θ`` (rad) walks towards
``(sin θ, cos θ)``, the same convention as the body yaw of :mod:`posenet3d.synth.body`. The azimuth of a point
is ``atan2(x, z)``. Speeds are m/s, times s.

A walker steers towards a sequence of goals: points on the *stage* (in view, 3–10 m away) or *exits* beyond
the widest view of a panning camera, so people leave the view and come back. Speed and turn rate both follow
their targets through critically damped second-order filters, so velocity and acceleration are continuous; the
turn rate is capped so that the sideways acceleration ``v · ω`` stays below :data:`MAX_SIDE_ACCEL`. At a goal
the walker may stop for 0.8–2.5 s and picks a new cruise speed in :data:`CRUISE_MPS`.

:func:`crossing_pair` builds two walkers whose lines of sight meet at a chosen time: the nearer one passes in
front of the farther one slowly enough (relative angular speed set from their widths) that their overlap lasts
about :func:`crossing_duration_s` (1.6 s, at least 20 frames). Near that moment both walk straight at constant
velocity; before and after they steer like any walker (the part before is simulated backwards in time and
reversed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Cruise speeds (m/s) of walkers; targets are drawn in this range (the crossing pair uses 0.5–2.0).
CRUISE_MPS = (0.6, 1.8)
#: Fastest walking speed (m/s).
MAX_SPEED_MPS = 2.0
#: Largest sideways (centripetal) acceleration v·ω (m/s²) and largest turn rate (rad/s).
MAX_SIDE_ACCEL, MAX_TURN_RATE = 1.2, 0.9
#: Filter rates (1/s) of speed and turn rate (critically damped); a step of Δv peaks at Δv·k/e m/s².
SPEED_RATE, TURN_RATE = 1.6, 3.0
#: Probability of stopping at a goal and the stop's duration range (s).
P_STOP, STOP_S = 0.3, (0.8, 2.5)
#: Closest two walkers' pelvis ground points may come (m).
MIN_SEPARATION_M = 0.8
#: Body half-width (m) used to time the crossing.
HALF_WIDTH_M = 0.22


@dataclass(frozen=True)
class Stage:
    """Where people walk. ``half_fov_rad``: the camera's horizontal half field of view; ``pan_amp_rad``: its
    largest yaw away from 0; ``near_m``/``far_m``: ground distances of stage goals from the camera (m)."""

    half_fov_rad: float
    pan_amp_rad: float
    near_m: float = 3.0
    far_m: float = 10.0

    def stage_point(self, rng: np.random.Generator) -> np.ndarray:
        """A point (x, z) m in view at yaw 0: azimuth within 80 % of the half FOV, distance near–far."""
        az = rng.uniform(-0.8, 0.8) * self.half_fov_rad
        rho = rng.uniform(self.near_m, self.far_m)
        return rho * np.array([math.sin(az), math.cos(az)])

    def exit_point(self, rng: np.random.Generator, side: float) -> np.ndarray:
        """A point (x, z) m out of view on ``side`` (+1 right, −1 left) whatever the pan: beyond the widest
        view edge by 1.4 m plus 3°."""
        rho = rng.uniform(max(self.near_m, 4.0), self.far_m)
        az = side * (self.half_fov_rad + self.pan_amp_rad + math.atan2(1.4, rho) + math.radians(3.0))
        return rho * np.array([math.sin(az), math.cos(az)])


@dataclass
class Path:
    """A walker's ground track sampled every ``dt_s``: ``xz_m`` (n, 2), ``heading_rad`` (n,), ``speed_mps``
    (n,), and ``target_mps`` (n,), the speed it was steering to (0 while stopping)."""

    xz_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    target_mps: np.ndarray

    def reversed(self) -> Path:
        """The same track walked backwards in time (headings turned by π)."""
        return Path(self.xz_m[::-1].copy(), (self.heading_rad[::-1] + math.pi) % (2 * math.pi),
                    self.speed_mps[::-1].copy(), self.target_mps[::-1].copy())

    def part(self, start: int, stop: int | None = None, step: int = 1) -> Path:
        """The samples ``start:stop:step`` (a slice)."""
        sl = slice(start, stop, step)
        return Path(self.xz_m[sl], self.heading_rad[sl], self.speed_mps[sl], self.target_mps[sl])

    def __add__(self, other: Path) -> Path:
        return Path(*(np.concatenate([a, b]) for a, b in zip(
            (self.xz_m, self.heading_rad, self.speed_mps, self.target_mps),
            (other.xz_m, other.heading_rad, other.speed_mps, other.target_mps))))

    def __len__(self) -> int:
        return len(self.speed_mps)


class Goals:
    """A walker's goal sequence: ``first`` kinds ('stage' or 'exit') in order, then 'stage' (3 in 4) or 'exit'.
    An exit lies on the side the walker is on (2 in 3) or the other side."""

    def __init__(self, rng: np.random.Generator, stage: Stage, first: tuple[str, ...] = ()) -> None:
        self.rng, self.stage, self.queue = rng, stage, list(first)

    def next(self, xz: np.ndarray) -> np.ndarray:
        kind = self.queue.pop(0) if self.queue else ("stage" if self.rng.random() < 0.75 else "exit")
        if kind == "stage":
            return self.stage.stage_point(self.rng)
        side = math.copysign(1.0, xz[0]) * (1.0 if self.rng.random() < 2 / 3 else -1.0)
        return self.stage.exit_point(self.rng, side)


def _bearing(goal: np.ndarray, x: float, z: float, heading: float) -> tuple[float, float]:
    """(distance m, heading error rad in −π..π) from (x, z) m walking at ``heading`` to ``goal``."""
    dx, dz = goal[0] - x, goal[1] - z
    err = (math.atan2(dx, dz) - heading + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(dx, dz), err


def walk(rng: np.random.Generator, goals: Goals, xz: np.ndarray, heading: float, speed: float, steps: int,
         dt: float) -> Path:
    """Simulate a walker for ``steps`` steps of ``dt`` s from position ``xz`` (m), ``heading`` (rad) and
    ``speed`` (m/s), at rest in acceleration and turn rate. Returns ``steps + 1`` samples (the start first)."""
    x, z, th, v = float(xz[0]), float(xz[1]), float(heading), float(speed)
    acc = om = om_rate = 0.0
    cruise = v if CRUISE_MPS[0] <= v <= MAX_SPEED_MPS else float(rng.uniform(*CRUISE_MPS))
    goal, stop_left = goals.next(np.array([x, z])), 0.0
    out = np.empty((steps + 1, 5))
    out[0] = (x, z, th, v, cruise)
    for i in range(1, steps + 1):
        dist, err = _bearing(goal, x, z, th)
        if dist < 0.7 or (dist < 2.5 and abs(err) > math.pi / 2):
            goal = goals.next(np.array([x, z]))
            cruise = float(rng.uniform(*CRUISE_MPS))
            stop_left = float(rng.uniform(*STOP_S)) if rng.random() < P_STOP else 0.0
            dist, err = _bearing(goal, x, z, th)
        target = 0.0 if stop_left > 0.0 else cruise
        stop_left = max(0.0, stop_left - dt)
        om_max = min(MAX_TURN_RATE, MAX_SIDE_ACCEL / max(v, cruise, 0.5))
        om_cmd = max(-om_max, min(om_max, 1.5 * err)) * min(1.0, v / 0.5)
        acc += (SPEED_RATE ** 2 * (target - v) - 2.0 * SPEED_RATE * acc) * dt
        v = min(max(v + acc * dt, 0.0), MAX_SPEED_MPS)
        om_rate += (TURN_RATE ** 2 * (om_cmd - om) - 2.0 * TURN_RATE * om_rate) * dt
        om += om_rate * dt
        th += om * dt
        x += v * math.sin(th) * dt
        z += v * math.cos(th) * dt
        out[i] = (x, z, th, v, target)
    return Path(out[:, :2].copy(), out[:, 2] % (2 * math.pi), out[:, 3].copy(), out[:, 4].copy())


def straight(xz: np.ndarray, velocity: np.ndarray, times_s: np.ndarray) -> Path:
    """Constant-velocity walking: position ``xz + velocity · t`` (m) at ``times_s``."""
    speed = float(np.linalg.norm(velocity))
    n = len(times_s)
    return Path(xz[None] + times_s[:, None] * velocity[None],
                np.full(n, math.atan2(velocity[0], velocity[1]) % (2 * math.pi)), np.full(n, speed),
                np.full(n, speed))


def crossing_duration_s(fps: float) -> float:
    """How long (s) the crossing's overlap is made to last: 1.6 s, and at least 20 frames."""
    return max(1.6, 20.0 / fps)


@dataclass(frozen=True)
class Crossing:
    """Where and when the crossing pair meet: ``time_s``, the line of sight's ``azimuth_rad``, the ground
    distances ``near_m``/``far_m`` and both walkers' velocities (m/s, (x, z))."""

    time_s: float
    azimuth_rad: float
    near_m: float
    far_m: float
    near_velocity: np.ndarray
    far_velocity: np.ndarray


def sample_crossing(rng: np.random.Generator, stage: Stage, time_s: float, yaw_rad: float, fps: float
                    ) -> Crossing | None:
    """Draw a crossing at ``time_s`` on a line of sight within 60 % of the half FOV of the camera's yaw then.

    The far walker goes mostly sideways (within 50° of the line of sight's normal) at 0.6–1.6 m/s; the near
    walker's sideways speed is set so that it moves across the far one at the angular rate (rad/s) that makes
    their silhouettes (half-width :data:`HALF_WIDTH_M` each) overlap for :func:`crossing_duration_s`, and its
    speed (≤ 2 m/s) adds a radial part. Returns None when the draw gives no valid speed (the caller draws again)."""
    az = yaw_rad + rng.uniform(-0.6, 0.6) * stage.half_fov_rad
    near = rng.uniform(3.5, 5.5)
    far = min(near + rng.uniform(1.8, 4.0), stage.far_m)
    radial, tangent = np.array([math.sin(az), math.cos(az)]), np.array([math.cos(az), -math.sin(az)])
    v_far, beta = rng.uniform(0.6, 1.6), rng.uniform(-0.87, 0.87)
    side = 1.0 if rng.random() < 0.5 else -1.0
    tau_far = side * v_far * math.cos(beta)
    far_velocity = tau_far * tangent + v_far * math.sin(beta) * radial
    omega_rel = 2.0 * (HALF_WIDTH_M / near + HALF_WIDTH_M / far) / crossing_duration_s(fps)
    tau_near = near * (tau_far / far + (1.0 if rng.random() < 0.5 else -1.0) * omega_rel)
    lo = max(0.5, abs(tau_near) / 0.97)
    if lo > MAX_SPEED_MPS:
        return None
    v_near = rng.uniform(lo, MAX_SPEED_MPS)
    r_near = math.sqrt(max(v_near ** 2 - tau_near ** 2, 0.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    near_velocity = tau_near * tangent + r_near * radial
    return Crossing(time_s, az, near, far, near_velocity, far_velocity)


def crossing_pair(rng: np.random.Generator, stage: Stage, crossing: Crossing, steps: int, dt: float,
                  first_goals: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """The near and far walkers' paths over ``steps + 1`` samples of ``dt`` s: straight at constant velocity
    within ``crossing_duration_s / 2 + 0.6`` s of the crossing (cut to the clip), steering outside that window
    towards goals that start with ``first_goals`` (on both sides in time: 'exit' makes them enter and leave)."""
    times = np.arange(steps + 1) * dt
    half = crossing_duration_s(1.0 / dt) / 2 + 0.6
    i0 = min(int(np.searchsorted(times, crossing.time_s - half)), steps)
    i1 = max(i0, int(np.searchsorted(times, crossing.time_s + half, side="right")) - 1)
    radial = np.array([math.sin(crossing.azimuth_rad), math.cos(crossing.azimuth_rad)])
    paths = []
    for dist, vel in ((crossing.near_m, crossing.near_velocity), (crossing.far_m, crossing.far_velocity)):
        path = straight(dist * radial, vel, times[i0:i1 + 1] - crossing.time_s)
        if i0 > 0:
            back = walk(rng, Goals(rng, stage, first_goals), path.xz_m[0], path.heading_rad[0] + math.pi,
                        path.speed_mps[0], i0, dt)
            path = back.reversed().part(0, -1) + path
        if i1 < steps:
            fwd = walk(rng, Goals(rng, stage, first_goals), path.xz_m[-1], path.heading_rad[-1],
                       path.speed_mps[-1], steps - i1, dt)
            path = path + fwd.part(1)
        paths.append(path)
    return paths[0], paths[1]


def min_separation_m(a: Path, b: Path, every: int = 1) -> float:
    """Smallest ground distance (m) between two walkers sampled at the same times (every ``every``-th)."""
    return float(np.linalg.norm(a.xz_m[::every] - b.xz_m[::every], axis=1).min())
