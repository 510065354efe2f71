"""Sampling synthetic people: pose families, joint angles within :data:`~posenet3d.synth.body.LIMITS`, yaw.

Every pose starts from a relaxed standing pose (:func:`_neutral`) that one family function then changes; the
angles are degrees, named as in :data:`~posenet3d.synth.body.POSE_PARAMS` (axes in
:func:`~posenet3d.synth.body.pose_rotations`). Poses whose hands, elbows, knees or feet would pass through the
torso are rejected and resampled (:func:`~posenet3d.synth.body.torso_penetration`), so no person of the world
holds an impossible pose.

Every draw comes from the ``rng`` passed in, in a fixed order: the same generator state gives the same person.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .body import (
    LIMITS,
    POSE_PARAMS,
    PosedBody,
    clip_angles,
    forward_kinematics,
    pose_body,
    sample_shape,
    torso_penetration,
)

#: Pose families and their probabilities.
POSE_KINDS: dict[str, float] = {"standing": 0.28, "walking": 0.24, "arm_raised": 0.16, "sitting": 0.10,
                                "bent": 0.10, "random": 0.12}


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _neutral(rng: np.random.Generator) -> dict:
    """A relaxed standing pose (degrees), the start of every family."""
    a = {
        "root_pitch": float(np.clip(rng.normal(0.0, 3.0), -6, 6)),
        "root_roll": float(np.clip(rng.normal(0.0, 3.0), -6, 6)),
        "trunk_flex": _u(rng, -5, 10), "trunk_lat": _u(rng, -5, 5), "trunk_twist": _u(rng, -10, 10),
        "neck_flex": _u(rng, -10, 20), "neck_lat": _u(rng, -8, 8), "neck_yaw": _u(rng, -40, 40),
    }
    for s in ("r", "l"):
        a.update({f"{s}_sh_flex": _u(rng, -15, 25), f"{s}_sh_abd": _u(rng, 6, 25), f"{s}_sh_twist": _u(rng, -20, 30),
                  f"{s}_elbow": _u(rng, 0, 35), f"{s}_wrist": _u(rng, -20, 20), f"{s}_hip_flex": _u(rng, -5, 10),
                  f"{s}_hip_abd": _u(rng, 0, 10), f"{s}_hip_twist": _u(rng, -10, 15), f"{s}_knee": _u(rng, 0, 10)})
    return a


def _flat_feet(a: dict, rng: np.random.Generator, spread: float = 8.0) -> None:
    """Ankle angles that keep each sole roughly level: undo the shank's pitch (lean + hip flexion − knee)."""
    for s in ("r", "l"):
        shank_pitch = -a["root_pitch"] + a[f"{s}_hip_flex"] - a[f"{s}_knee"]
        a[f"{s}_ankle"] = -shank_pitch + _u(rng, -spread, spread)


def _standing(a: dict, rng: np.random.Generator) -> None:
    """The neutral pose with level feet."""
    _flat_feet(a, rng, 4.0)


def _walking(a: dict, rng: np.random.Generator) -> None:
    """Mid-stride: legs and the opposite arms swing with one phase and amplitude."""
    phase, amp = _u(rng, 0, 2 * math.pi), _u(rng, 12, 30)
    swing = math.sin(phase)
    for s, sign in (("r", 1.0), ("l", -1.0)):
        a[f"{s}_hip_flex"] = 3.0 + sign * amp * swing
        a[f"{s}_knee"] = 5.0 + _u(rng, 20, 55) * max(0.0, sign * math.cos(phase))
        a[f"{s}_sh_flex"] = -sign * 0.8 * amp * swing
        a[f"{s}_sh_abd"] = _u(rng, 6, 15)
        a[f"{s}_elbow"] = _u(rng, 10, 45)
    a["trunk_flex"] = _u(rng, 0, 10)
    _flat_feet(a, rng, 15.0)


def _arm_raised(a: dict, rng: np.random.Generator) -> None:
    """One or both arms raised forward or sideways."""
    sides = [("r",), ("l",), ("r", "l")][int(rng.integers(3))]
    for s in sides:
        if rng.random() < 0.5:
            a[f"{s}_sh_flex"], a[f"{s}_sh_abd"] = _u(rng, 80, 175), _u(rng, 0, 40)
        else:
            a[f"{s}_sh_flex"], a[f"{s}_sh_abd"] = _u(rng, -10, 30), _u(rng, 70, 165)
        a[f"{s}_elbow"], a[f"{s}_sh_twist"] = _u(rng, 0, 100), _u(rng, -40, 40)
    _flat_feet(a, rng)


def _sitting(a: dict, rng: np.random.Generator) -> None:
    """Hips and knees flexed near a right angle, forearms forward."""
    base_hip, base_knee = _u(rng, 70, 100), _u(rng, 70, 105)
    for s in ("r", "l"):
        a[f"{s}_hip_flex"] = base_hip + _u(rng, -10, 10)
        a[f"{s}_knee"] = base_knee + _u(rng, -12, 12)
        a[f"{s}_hip_abd"] = _u(rng, 0, 20)
        a[f"{s}_sh_flex"], a[f"{s}_elbow"] = _u(rng, 10, 50), _u(rng, 30, 90)
    a["trunk_flex"] = _u(rng, -10, 20)
    _flat_feet(a, rng)


def _bent(a: dict, rng: np.random.Generator) -> None:
    """Leaning forward from the hips, head up, arms hanging towards the ground."""
    lean = _u(rng, 20, 55)
    a["root_pitch"] = lean
    a["trunk_flex"] = _u(rng, 5, 30)
    a["neck_flex"] = _u(rng, -35, 0)
    for s in ("r", "l"):
        a[f"{s}_knee"] = _u(rng, 0, 25)
        a[f"{s}_hip_flex"] = lean + _u(rng, -5, 10) + 0.5 * a[f"{s}_knee"]
        a[f"{s}_sh_flex"] = lean + a["trunk_flex"] + _u(rng, -10, 40)
        a[f"{s}_elbow"] = _u(rng, 0, 40)
    _flat_feet(a, rng)


def _random(a: dict, rng: np.random.Generator) -> None:
    """Every angle uniform within its limits, except a body that still stands (moderate lean, hips and knees)."""
    for name in POSE_PARAMS:
        key = name[2:] if name[:2] in ("r_", "l_") else name
        lo, hi = LIMITS[key]
        a[name] = _u(rng, lo, hi)
    a["root_pitch"] = _u(rng, -5, 15)
    a["root_roll"] = _u(rng, -5, 5)
    a["trunk_flex"] = _u(rng, -10, 35)
    for s in ("r", "l"):
        a[f"{s}_hip_flex"] = _u(rng, -20, 60)
        a[f"{s}_knee"] = _u(rng, 0, 70)
    _flat_feet(a, rng, 20.0)


#: The function that turns the neutral pose into each family's pose (in place).
_FAMILIES: dict[str, Callable[[dict, np.random.Generator], None]] = {
    "standing": _standing, "walking": _walking, "arm_raised": _arm_raised, "sitting": _sitting, "bent": _bent,
    "random": _random,
}


def sample_angles(rng: np.random.Generator, kind: str) -> dict:
    """Joint angles (degrees, keys :data:`~posenet3d.synth.body.POSE_PARAMS`) of one pose of family ``kind``,
    clipped to :data:`~posenet3d.synth.body.LIMITS`."""
    a = _neutral(rng)
    if kind not in _FAMILIES:
        raise ValueError(f"unknown pose kind {kind!r}; known: {sorted(POSE_KINDS)}")
    _FAMILIES[kind](a, rng)
    return clip_angles(a)


def sample_body(rng: np.random.Generator, kind: str | None = None, max_tries: int = 30) -> PosedBody:
    """Sample a person: shape, pose family (``kind`` or drawn from :data:`POSE_KINDS`), angles and yaw (0–360°).

    Poses with a limb point inside the torso (:func:`~posenet3d.synth.body.torso_penetration`) are resampled;
    after ``max_tries`` the neutral standing pose (always clear of the torso) is used.
    """
    shape = sample_shape(rng)
    if kind is None:
        kinds = list(POSE_KINDS)
        kind = kinds[int(rng.choice(len(kinds), p=np.array(list(POSE_KINDS.values()))))]
    yaw = float(rng.uniform(0.0, 360.0))
    for _ in range(max_tries):
        angles = sample_angles(rng, kind)
        joints, _, _ = forward_kinematics(shape, angles, yaw)
        if not torso_penetration(joints, shape.height_mm).any():
            return pose_body(shape, kind, angles, yaw)
    angles = {k: 0.0 for k in POSE_PARAMS}
    angles.update({"r_sh_abd": 10.0, "l_sh_abd": 10.0})
    return pose_body(shape, "standing", clip_angles(angles), yaw)
