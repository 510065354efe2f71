"""Synthetic people on the 21-joint MuCo skeleton: anthropometric shapes, joint-angle-limited poses, kinematics.

Frames and units:

* **body frame** of one person: origin at the Pelvis joint, x = the person's right, y = down, z = the person's
  forward; millimetres. (Right-handed: right × down = forward.)
* **world frame** of a scene (:mod:`posenet3d.synth.scene`): x right, y down (gravity), z forward, mm. A person
  turned by ``yaw_deg`` about the world y axis has its body frame rotated by that angle; yaw 0 faces +z, i.e.
  away from a camera looking along +z.

Joint angles are in degrees and are limited by :data:`LIMITS` (anatomical ranges, slightly conservative).
:func:`torso_penetration` tells which limb points lie inside the torso, so that :mod:`posenet3d.synth.poses` can
reject such poses. Sampling whole people (pose families, angles, yaw) is in :mod:`posenet3d.synth.poses`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..skeletons import COCO, MUCO

_J = {name: i for i, name in enumerate(MUCO.joints_name)}
HEAD_TOP, THORAX, HEAD, PELVIS, SPINE = _J["Head_top"], _J["Thorax"], _J["Head"], _J["Pelvis"], _J["Spine"]
R_SHOULDER, R_ELBOW, R_WRIST, R_HAND = _J["R_Shoulder"], _J["R_Elbow"], _J["R_Wrist"], _J["R_Hand"]
L_SHOULDER, L_ELBOW, L_WRIST, L_HAND = _J["L_Shoulder"], _J["L_Elbow"], _J["L_Wrist"], _J["L_Hand"]
R_HIP, R_KNEE, R_ANKLE, R_TOE = _J["R_Hip"], _J["R_Knee"], _J["R_Ankle"], _J["R_Toe"]
L_HIP, L_KNEE, L_ANKLE, L_TOE = _J["L_Hip"], _J["L_Knee"], _J["L_Ankle"], _J["L_Toe"]

#: The five COCO face keypoints computed from the head orientation, in COCO order.
FACE_NAMES = COCO.joints_name[:5]  # Nose, L_Eye, R_Eye, L_Ear, R_Ear

#: Segment lengths of the reference body as fractions of stature. The vertical chain ankle_height + shin +
#: thigh + hip_drop + pelvis_to_spine + spine_to_thorax + neck + head_top sums to 1 (the stature).
PROPORTIONS: dict[str, float] = {
    "ankle_height": 0.040,       # sole → ankle joint
    "shin": 0.245,               # ankle → knee
    "thigh": 0.245,              # knee → hip
    "hip_drop": 0.013,           # hip joints lie this far below the Pelvis joint
    "pelvis_to_spine": 0.115,
    "spine_to_thorax": 0.167,
    "neck": 0.100,               # Thorax → Head (head centre, ear level)
    "head_top": 0.075,           # Head → Head_top
    "hip_half_width": 0.052,
    "shoulder_half_width": 0.108,
    "shoulder_drop": 0.012,      # shoulders below the Thorax joint
    "upper_arm": 0.172,
    "forearm": 0.146,
    "hand": 0.055,               # wrist → hand (MuCo 'Hand')
    "foot": 0.105,               # ankle → toe
}
_VERTICAL_CHAIN = ("ankle_height", "shin", "thigh", "hip_drop", "pelvis_to_spine", "spine_to_thorax", "neck",
                   "head_top")

#: Stature distribution (mm): N(mean, sd) clipped to the range.
HEIGHT_MEAN_MM, HEIGHT_SD_MM, HEIGHT_RANGE_MM = 1700.0, 90.0, (1480.0, 1950.0)
#: Per-segment proportion jitter: factor N(1, sd) clipped to 1 ± max.
SEGMENT_JITTER_SD, SEGMENT_JITTER_MAX = 0.035, 0.08

#: Joint-angle limits in degrees (see :func:`pose_rotations` for the axis of each angle).
LIMITS: dict[str, tuple[float, float]] = {
    "root_pitch": (-10.0, 55.0),   # whole-body forward lean (bending at the hips)
    "root_roll": (-8.0, 8.0),
    "trunk_flex": (-20.0, 50.0),   # spine forward flexion (+) / extension (−), shared by both spine segments
    "trunk_lat": (-25.0, 25.0),
    "trunk_twist": (-35.0, 35.0),
    "neck_flex": (-40.0, 45.0),    # chin down (+)
    "neck_lat": (-25.0, 25.0),
    "neck_yaw": (-65.0, 65.0),
    "sh_flex": (-45.0, 175.0),     # arm raised forward (+), backward (−)
    "sh_abd": (-10.0, 165.0),      # arm raised sideways (+)
    "sh_twist": (-60.0, 60.0),     # internal (+) / external rotation about the upper-arm axis
    "elbow": (0.0, 145.0),         # elbow flexion
    "wrist": (-60.0, 60.0),
    "hip_flex": (-25.0, 115.0),    # thigh forward (+)
    "hip_abd": (-10.0, 40.0),      # thigh sideways (+)
    "hip_twist": (-35.0, 35.0),
    "knee": (0.0, 140.0),          # knee flexion
    "ankle": (-45.0, 30.0),        # toes up (+, dorsiflexion) / down (−, plantar flexion)
}
_SIDED = ("sh_flex", "sh_abd", "sh_twist", "elbow", "wrist", "hip_flex", "hip_abd", "hip_twist", "knee", "ankle")
#: All pose parameter names (per-side parameters carry an ``r_``/``l_`` prefix).
POSE_PARAMS: tuple[str, ...] = tuple(
    [k for k in LIMITS if k not in _SIDED] + [f"{s}_{k}" for s in ("r", "l") for k in _SIDED])

#: Torso collision volume (elliptic capsule around Pelvis → Spine → Thorax) half-axes as fractions of stature:
#: sideways, front-back.
TORSO_HALF_WIDTH, TORSO_HALF_DEPTH = 0.075, 0.058
#: Points checked against the torso: elbows, wrists, hands, knees, ankles, toes and mid-forearms.
_TORSO_CHECK = (R_ELBOW, R_WRIST, R_HAND, L_ELBOW, L_WRIST, L_HAND, R_KNEE, R_ANKLE, R_TOE, L_KNEE, L_ANKLE, L_TOE)

#: Face points in the head frame (x right, y down, z forward; origin at the Head joint) as fractions of stature.
_FACE_OFFSETS = np.array([
    [0.000, 0.014, 0.062],     # nose
    [-0.019, -0.006, 0.050],   # left eye (the person's left is −x)
    [0.019, -0.006, 0.050],    # right eye
    [-0.047, 0.000, -0.004],   # left ear
    [0.047, 0.000, -0.004],    # right ear
])
#: Head ellipsoid (fractions of stature): centre offset from the Head joint in the head frame, half-axes x, y, z.
HEAD_CENTRE_OFFSET = np.array([0.0, -0.022, 0.006])
HEAD_HALF_AXES = np.array([0.054, 0.072, 0.062])


@dataclass(frozen=True)
class BodyShape:
    """One person's anthropometry: stature and segment lengths (mm), and a girth factor for limb thickness."""

    height_mm: float
    segments_mm: dict
    girth: float

    def seg(self, name: str) -> float:
        return self.segments_mm[name]


@dataclass
class PosedBody:
    """A posed person, before placement in a scene.

    Attributes:
        shape: the :class:`BodyShape`.
        kind: the pose family (a key of :data:`posenet3d.synth.poses.POSE_KINDS`).
        angles: pose parameters (degrees), keys :data:`POSE_PARAMS`.
        yaw_deg: heading about the world vertical (0 = facing +z).
        joints_mm: (21, 3) MuCo joints in the world orientation relative to the Pelvis (mm, y down).
        face_mm: (5, 3) COCO face points (nose, eyes, ears) in the same frame.
        head_rot: (3, 3) head frame → world orientation (columns: head right, down, forward).
        ground_offset_mm: height of the Pelvis above the sole of the lowest foot (mm, > 0).
    """

    shape: BodyShape
    kind: str
    angles: dict
    yaw_deg: float
    joints_mm: np.ndarray
    face_mm: np.ndarray
    head_rot: np.ndarray
    ground_offset_mm: float


def rot_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def stature_mm(segments_mm: dict) -> float:
    """Standing height (mm) implied by the vertical chain of segment lengths."""
    return float(sum(segments_mm[k] for k in _VERTICAL_CHAIN))


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Sample a stature ~ N(1700, 90) mm (clipped to 1480–1950) and per-segment proportions with small jitter.

    The vertical chain is rescaled so the stature is exactly the sampled height; left and right share lengths.
    """
    height = float(np.clip(rng.normal(HEIGHT_MEAN_MM, HEIGHT_SD_MM), *HEIGHT_RANGE_MM))
    names = list(PROPORTIONS)
    jitter = np.clip(rng.normal(1.0, SEGMENT_JITTER_SD, size=len(names)), 1 - SEGMENT_JITTER_MAX,
                     1 + SEGMENT_JITTER_MAX)
    seg = {k: PROPORTIONS[k] * height * float(j) for k, j in zip(names, jitter)}
    scale = height / stature_mm(seg)
    for k in _VERTICAL_CHAIN:
        seg[k] *= scale
    girth = float(rng.uniform(0.85, 1.25))
    return BodyShape(height_mm=height, segments_mm=seg, girth=girth)


def clip_angles(angles: dict) -> dict:
    """Clip every pose parameter to :data:`LIMITS` (returns a new dict)."""
    out = {}
    for name in POSE_PARAMS:
        key = name[2:] if name[:2] in ("r_", "l_") else name
        lo, hi = LIMITS[key]
        out[name] = float(min(max(angles[name], lo), hi))
    return out


def pose_rotations(angles: dict, yaw_deg: float) -> dict:
    """Segment orientations (3x3, segment frame → world orientation) for a pose.

    Conventions (segment frames start aligned with the body frame: x right, y down, z forward):
    root = yaw about y, lean ``root_pitch`` (Rx(−pitch): the trunk tips forward), ``root_roll`` about z;
    spine segments each take half of ``trunk_flex``/``trunk_lat`` (Rx(−flex), Rz(lat)), the upper one also
    ``trunk_twist`` (Ry); head = chest·Ry(yaw)·Rx(−flex)·Rz(lat); upper arm = chest·Rz(∓abd)·Rx(flex)·Ry(±twist)
    (rest: hanging down), forearm = upper·Rx(elbow); hand = forearm·Rx(wrist); thigh = pelvis·Rx(flex)·Rz(∓abd)
    ·Ry(±twist) (rest: down), shank = thigh·Rx(−knee); foot = shank·Rx(ankle) (rest: forward).
    """
    a = angles
    root = rot_y(yaw_deg) @ rot_x(-a["root_pitch"]) @ rot_z(a["root_roll"])
    lower = root @ rot_x(-0.5 * a["trunk_flex"]) @ rot_z(0.5 * a["trunk_lat"])
    chest = lower @ rot_x(-0.5 * a["trunk_flex"]) @ rot_z(0.5 * a["trunk_lat"]) @ rot_y(a["trunk_twist"])
    head = chest @ rot_y(a["neck_yaw"]) @ rot_x(-a["neck_flex"]) @ rot_z(a["neck_lat"])
    rots = {"root": root, "lower": lower, "chest": chest, "head": head}
    for s, sign in (("r", -1.0), ("l", 1.0)):
        upper = chest @ rot_z(sign * a[f"{s}_sh_abd"]) @ rot_x(a[f"{s}_sh_flex"]) @ rot_y(-sign * a[f"{s}_sh_twist"])
        fore = upper @ rot_x(a[f"{s}_elbow"])
        thigh = root @ rot_x(a[f"{s}_hip_flex"]) @ rot_z(sign * a[f"{s}_hip_abd"]) @ rot_y(-sign * a[f"{s}_hip_twist"])
        shank = thigh @ rot_x(-a[f"{s}_knee"])
        rots.update({f"{s}_upper": upper, f"{s}_fore": fore, f"{s}_hand": fore @ rot_x(a[f"{s}_wrist"]),
                     f"{s}_thigh": thigh, f"{s}_shank": shank, f"{s}_foot": shank @ rot_x(a[f"{s}_ankle"])})
    return rots


def forward_kinematics(shape: BodyShape, angles: dict, yaw_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint positions for a pose.

    Returns ``(joints (21, 3), face (5, 3), head_rot (3, 3))``: MuCo joints and COCO face points in the world
    orientation relative to the Pelvis (mm, y down), and the head frame → world rotation.
    """
    seg, h = shape.segments_mm, shape.height_mm
    r = pose_rotations(angles, yaw_deg)
    down = np.array([0.0, 1.0, 0.0])
    j = np.zeros((21, 3))
    j[PELVIS] = 0.0
    j[SPINE] = r["lower"] @ (-down * seg["pelvis_to_spine"])
    j[THORAX] = j[SPINE] + r["chest"] @ (-down * seg["spine_to_thorax"])
    j[HEAD] = j[THORAX] + r["head"] @ np.array([0.0, -seg["neck"], 0.012 * h])
    j[HEAD_TOP] = j[HEAD] + r["head"] @ (-down * seg["head_top"])
    foot_drop = max(seg["ankle_height"] - 0.02 * h, 0.0)
    foot_vec = np.array([0.0, foot_drop, math.sqrt(max(seg["foot"] ** 2 - foot_drop ** 2, 1.0))])
    for s, sign, (sh, el, wr, ha, hip, kn, an, toe) in (
            ("r", 1.0, (R_SHOULDER, R_ELBOW, R_WRIST, R_HAND, R_HIP, R_KNEE, R_ANKLE, R_TOE)),
            ("l", -1.0, (L_SHOULDER, L_ELBOW, L_WRIST, L_HAND, L_HIP, L_KNEE, L_ANKLE, L_TOE))):
        j[sh] = j[THORAX] + r["chest"] @ np.array([sign * seg["shoulder_half_width"], seg["shoulder_drop"], 0.0])
        j[el] = j[sh] + r[f"{s}_upper"] @ (down * seg["upper_arm"])
        j[wr] = j[el] + r[f"{s}_fore"] @ (down * seg["forearm"])
        j[ha] = j[wr] + r[f"{s}_hand"] @ (down * seg["hand"])
        j[hip] = r["root"] @ np.array([sign * seg["hip_half_width"], seg["hip_drop"], 0.0])
        j[kn] = j[hip] + r[f"{s}_thigh"] @ (down * seg["thigh"])
        j[an] = j[kn] + r[f"{s}_shank"] @ (down * seg["shin"])
        j[toe] = j[an] + r[f"{s}_foot"] @ foot_vec
    face = j[HEAD] + (_FACE_OFFSETS * h) @ r["head"].T
    return j, face, r["head"]


def _segment_frames(joints: np.ndarray):
    """Torso segments (start, unit axis, length, unit lateral, unit front-back) from the joints alone."""
    out = []
    for a, b, lat_a, lat_b in ((PELVIS, SPINE, R_HIP, L_HIP), (SPINE, THORAX, R_SHOULDER, L_SHOULDER)):
        axis = joints[b] - joints[a]
        length = float(np.linalg.norm(axis))
        axis = axis / length
        lat = joints[lat_a] - joints[lat_b]
        lat = lat - axis * float(lat @ axis)
        lat = lat / max(float(np.linalg.norm(lat)), 1e-9)
        out.append((joints[a], axis, length, lat, np.cross(axis, lat)))
    return out


def torso_penetration(joints: np.ndarray, height_mm: float, points: np.ndarray | None = None) -> np.ndarray:
    """Which points lie inside the torso volume (bool ``(N,)``).

    The torso is an elliptic capsule around the polyline Pelvis → Spine → Thorax with half-axes
    :data:`TORSO_HALF_WIDTH` (sideways, along hips/shoulders) and :data:`TORSO_HALF_DEPTH` (front-back) times the
    stature, rounded at both ends with the front-back half-axis. ``points`` default to the limb points
    (elbows, wrists, hands, knees, ankles, toes, mid-forearms). Everything in mm, any common frame.
    """
    j = np.asarray(joints, dtype=np.float64)
    if points is None:
        mids = np.stack([(j[R_ELBOW] + j[R_WRIST]) / 2, (j[L_ELBOW] + j[L_WRIST]) / 2])
        points = np.concatenate([j[list(_TORSO_CHECK)], mids])
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    ax, az = TORSO_HALF_WIDTH * height_mm, TORSO_HALF_DEPTH * height_mm
    inside = np.zeros(len(p), dtype=bool)
    for start, axis, length, lat, fb in _segment_frames(j):
        d = p - start
        t = d @ axis
        excess = np.maximum(0.0, np.maximum(-t, t - length))
        inside |= (d @ lat / ax) ** 2 + (d @ fb / az) ** 2 + (excess / az) ** 2 < 1.0
    return inside


def pose_body(shape: BodyShape, kind: str, angles: dict, yaw_deg: float) -> PosedBody:
    """Run the kinematics and measure the ground offset (Pelvis height above the lowest sole, mm)."""
    joints, face, head_rot = forward_kinematics(shape, angles, yaw_deg)
    seg = shape.segments_mm
    sole = max(joints[R_ANKLE, 1], joints[L_ANKLE, 1]) + seg["ankle_height"]
    toe = max(joints[R_TOE, 1], joints[L_TOE, 1]) + 0.02 * shape.height_mm
    return PosedBody(shape=shape, kind=kind, angles=angles, yaw_deg=yaw_deg, joints_mm=joints, face_mm=face,
                     head_rot=head_rot, ground_offset_mm=float(max(sole, toe)))
