"""A walking gait for the video world: joint angles as smooth periodic functions of the gait phase and the speed.

One gait cycle (phase ``φ`` from 0 to 2π, one stride = two steps) starts at the right heel strike; the left leg
runs half a cycle behind. The phase advances with the distance walked (:func:`stride_m`), so feet keep pace with
the ground speed and a person who stops also stops stepping. Every angle is ``standing base + k(v) · gait
offset(φ, v)``, with ``k`` rising smoothly from 0 (standing) to 1 (walking at ≥ :data:`WALK_FULL_MPS`), so poses
change continuously through starts and stops. Hips and knees follow a textbook sagittal pattern (knee flexion
peaks in swing, a small bump at loading), the ankles keep the soles roughly level with a push-off, the arms swing
against the legs (right arm forward with the left leg) and the elbows bend as the arm comes forward. The head
looks slowly around. Everything is clipped to :data:`~posenet3d.synth.body.LIMITS`.

Angles are degrees, named as :data:`~posenet3d.synth.body.POSE_PARAMS`; speeds m/s; times s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .body import clip_angles

#: Speed (m/s) from which the gait has its full form; below it the pose blends towards standing.
WALK_FULL_MPS = 0.5
#: Walking speeds (m/s) the hip swing amplitude is interpolated over (:func:`gait_angles`).
SPEED_RANGE_MPS = (0.5, 2.0)


@dataclass(frozen=True)
class GaitStyle:
    """One person's constant manner of standing and walking (degrees, s).

    ``base`` is the standing pose (all :data:`~posenet3d.synth.body.POSE_PARAMS`); ``arm_swing`` scales the arm
    swing (0.5–1); ``look_amp_deg``, ``look_period_s`` and ``look_phase`` describe the slow head turn.
    """

    base: dict
    arm_swing: float
    look_amp_deg: float
    look_period_s: float
    look_phase: float


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_style(rng: np.random.Generator) -> GaitStyle:
    """A relaxed upright standing pose and the person's arm swing and head motion."""
    base = {"root_pitch": _u(rng, -2, 3), "root_roll": _u(rng, -2, 2), "trunk_flex": _u(rng, 0, 6),
            "trunk_lat": _u(rng, -3, 3), "trunk_twist": 0.0, "neck_flex": _u(rng, -5, 12), "neck_lat": _u(rng, -4, 4),
            "neck_yaw": 0.0}
    sh_abd, elbow, hip_abd = _u(rng, 7, 14), _u(rng, 8, 25), _u(rng, 2, 6)
    for s in ("r", "l"):
        base.update({f"{s}_sh_flex": _u(rng, -3, 6), f"{s}_sh_abd": sh_abd + _u(rng, -1, 1),
                     f"{s}_sh_twist": _u(rng, 0, 20), f"{s}_elbow": elbow + _u(rng, -3, 3),
                     f"{s}_wrist": _u(rng, -10, 10), f"{s}_hip_flex": _u(rng, 0, 4), f"{s}_hip_abd": hip_abd,
                     f"{s}_hip_twist": _u(rng, -5, 8), f"{s}_knee": _u(rng, 0, 5), f"{s}_ankle": 0.0})
    return GaitStyle(base=base, arm_swing=_u(rng, 0.5, 1.0), look_amp_deg=_u(rng, 0, 35),
                     look_period_s=_u(rng, 4, 10), look_phase=_u(rng, 0, 2 * math.pi))


def stride_m(speed_mps: float | np.ndarray, stature_mm: float) -> float | np.ndarray:
    """Stride length (m, one full cycle) at a walking speed: stature × (0.45 + 0.25 · v / (m/s)).

    At 1.4 m/s a 1.7 m tall person takes 1.36 m strides (0.97 strides/s), within the human range.
    """
    return stature_mm / 1000.0 * (0.45 + 0.25 * np.asarray(speed_mps))


def gait_intensity(speed_mps: float) -> float:
    """``k`` in 0..1: 0 standing, 1 from :data:`WALK_FULL_MPS` up (a smoothstep in between)."""
    x = min(max(speed_mps / WALK_FULL_MPS, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _bump(phase: float, centre: float, power: int) -> float:
    """A smooth periodic bump in 0..1 that peaks at ``centre`` (rad); larger ``power`` is narrower."""
    return ((1.0 + math.cos(phase - centre)) / 2.0) ** power


def _leg_and_arm(style: GaitStyle, psi: float, amp_deg: float) -> dict:
    """Offsets (degrees) of one side's hip, knee, ankle push-off, shoulder and elbow at its own phase ``psi``."""
    return {"hip_flex": 2.0 + amp_deg * math.cos(psi),
            "knee": 6.0 + (1.6 * amp_deg + 18.0) * _bump(psi, 4.4, 3) + 12.0 * _bump(psi, 0.8, 4),
            "push": -18.0 * _bump(psi, 3.6, 4) + 6.0 * _bump(psi, 5.5, 2),
            "sh_flex": -0.9 * style.arm_swing * amp_deg * math.cos(psi),
            "elbow": 12.0 * style.arm_swing * (1.0 - math.cos(psi)) / 2.0}


def gait_angles(style: GaitStyle, phase: float, speed_mps: float, time_s: float) -> dict:
    """Joint angles (degrees, within limits) of a person walking at ``speed_mps`` at gait ``phase`` (rad) and
    clip time ``time_s`` (s, for the head turn)."""
    k = gait_intensity(speed_mps)
    lo, hi = SPEED_RANGE_MPS
    amp = 14.0 + 10.0 * min(max((speed_mps - lo) / (hi - lo), 0.0), 1.0)
    a = dict(style.base)
    a["trunk_twist"] += k * 5.0 * math.cos(phase)
    a["root_roll"] += k * 2.0 * math.sin(phase)
    a["trunk_flex"] += k * 3.0
    a["neck_yaw"] = style.look_amp_deg * math.sin(2 * math.pi * time_s / style.look_period_s + style.look_phase) \
        - a["trunk_twist"]
    for s, offset in (("r", 0.0), ("l", math.pi)):
        g = _leg_and_arm(style, phase + offset, amp)
        for name in ("hip_flex", "knee", "sh_flex", "elbow"):
            a[f"{s}_{name}"] += k * g[name]
        shank_pitch = -a["root_pitch"] + a[f"{s}_hip_flex"] - a[f"{s}_knee"]
        a[f"{s}_ankle"] = -shank_pitch + k * g["push"]
    return clip_angles(a)
