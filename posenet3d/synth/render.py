"""Shaded limb volumes: a posed person in the camera frame → convex 2D primitives → image and person-id buffer.

Every bone is a tapered capsule (the convex hull of two discs, the projected end radii), the torso a rounded
quadrilateral over shoulders and hips plus two thick spine capsules, the head a projected ellipsoid (hair) with
a face ellipsoid and eyes inside it. Primitives of all people are drawn far to near (painter's algorithm on each
primitive's mean camera depth); the same outlines in the same order go into a person-id buffer (uint8, 0 =
background, ``k`` = person ``k``), so the buffer says exactly which person each pixel of the image shows.

Shading: each primitive is filled three times, from its full outline (darkest) to a core shrunk towards its
axis or centre and nudged towards an upper-left light (lightest), so limbs look round.

Units: camera frame mm (x right, y down, z forward); image px with integer pixel centres.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import body as B

#: Fixed-point bits for OpenCV polygon filling (coordinates are multiplied by 2**SHIFT).
SHIFT = 3
_SCALE = float(1 << SHIFT)
#: Shading layers: (shrink factor of the outline towards the core, colour factor).
SHADE_LAYERS = ((1.0, 0.60), (0.68, 0.82), (0.36, 1.0))
_LIGHT_DIR = np.array([-0.45, -0.89])
#: Smallest projected radius (px) of any part, so every joint's own pixel is covered by its limb.
MIN_RADIUS_PX = 1.0
_ARC_POINTS = 8

#: Limb radii as fractions of stature at the two ends (scaled by the person's girth).
LIMB_RADII = {
    "upper_arm": (0.029, 0.023), "forearm": (0.023, 0.018), "hand": (0.020, 0.018),
    "thigh": (0.048, 0.034), "shin": (0.033, 0.024), "foot": (0.022, 0.020),
    "spine_low": (0.060, 0.062), "spine_up": (0.062, 0.058), "pelvis": (0.050, 0.050), "neck": (0.027, 0.027),
    "torso_shoulder": 0.030, "torso_hip": 0.045,
}
#: Face ellipsoid (fractions of stature) inside the head ellipsoid: centre offset from the head centre, half-axes.
FACE_CENTRE_OFFSET = np.array([0.0, 0.008, 0.020])
FACE_HALF_AXES = np.array([0.044, 0.052, 0.038])


@dataclass(frozen=True)
class Appearance:
    """Per-person colours (BGR 0..255) and clothing cut."""

    skin: tuple
    hair: tuple
    shirt: tuple
    trousers: tuple
    shoes: tuple
    short_sleeves: bool
    shorts: bool


@dataclass
class Primitive:
    """One convex part of one person, in image px.

    ``outline_px`` (N, 2) is what covers the image and the id buffer; ``core_px`` (N, 2) are the points the
    shading layers shrink towards; ``details`` are (polygon (M, 2), BGR) pairs drawn right after, inside the
    outline (face, eyes). ``depth_mm`` is the painter's key (mean camera Z of the part).
    """

    depth_mm: float
    person_id: int
    outline_px: np.ndarray
    core_px: np.ndarray
    color: tuple
    details: list = field(default_factory=list)


def _bgr(c) -> tuple:
    return tuple(min(255, max(0, round(float(v)))) for v in c)


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Skin tone between dark and light, hair from a few natural colours, random shirt/trousers colours."""
    t = rng.uniform(0.0, 1.0)
    skin = np.array([55.0, 75.0, 120.0]) * (1 - t) + np.array([180.0, 200.0, 235.0]) * t + rng.uniform(-8, 8, 3)
    hair_palette = np.array([[25, 25, 30], [30, 45, 70], [40, 70, 110], [90, 160, 200], [150, 150, 155]], float)
    hair = hair_palette[int(rng.integers(len(hair_palette)))] + rng.uniform(-10, 10, 3)
    if rng.random() < 0.08:
        hair = skin * 0.9
    shirt = rng.uniform(20, 240, 3)
    trouser_palette = np.array([[120, 70, 40], [35, 35, 40], [110, 110, 110], [120, 160, 180], [60, 80, 60]], float)
    trousers = trouser_palette[int(rng.integers(len(trouser_palette)))] + rng.uniform(-20, 20, 3) \
        if rng.random() < 0.6 else rng.uniform(20, 220, 3)
    shoes = rng.uniform(10, 90, 3) if rng.random() < 0.8 else rng.uniform(120, 240, 3)
    return Appearance(skin=_bgr(skin), hair=_bgr(hair), shirt=_bgr(shirt), trousers=_bgr(trousers),
                      shoes=_bgr(shoes), short_sleeves=bool(rng.random() < 0.35), shorts=bool(rng.random() < 0.15))


def _project(p: np.ndarray, focal, princpt) -> np.ndarray:
    return np.stack([p[..., 0] / p[..., 2] * focal[0] + princpt[0], p[..., 1] / p[..., 2] * focal[1] + princpt[1]],
                    axis=-1)


def capsule_outlines(uv0: np.ndarray, uv1: np.ndarray, r0: np.ndarray, r1: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Convex outlines of K tapered 2D capsules (hull of disc (uv0, r0) and disc (uv1, r1)), all px.

    Returns ``(outline (K, 2n, 2), core (K, 2n, 2))``: the outline runs round the back of disc 0 and the front of
    disc 1 between the two outer tangents; ``core`` holds each outline point's disc centre.
    """
    axis = uv1 - uv0
    length = np.linalg.norm(axis, axis=1)
    ok = length > 1e-6
    d = np.where(ok[:, None], axis / np.where(ok, length, 1.0)[:, None], np.array([1.0, 0.0]))
    n = np.stack([-d[:, 1], d[:, 0]], axis=1)
    s = np.where(ok, np.clip((r0 - r1) / np.where(ok, length, 1.0), -0.95, 0.95), 0.0)
    alpha = np.arccos(s)
    t = np.linspace(0.0, 1.0, _ARC_POINTS)
    th0 = alpha[:, None] + t[None] * (2 * np.pi - 2 * alpha[:, None])
    th1 = -alpha[:, None] + t[None] * (2 * alpha[:, None])
    th = np.concatenate([th0, th1], axis=1)
    dirs = np.cos(th)[..., None] * d[:, None] + np.sin(th)[..., None] * n[:, None]
    radius = np.concatenate([np.repeat(r0[:, None], _ARC_POINTS, 1), np.repeat(r1[:, None], _ARC_POINTS, 1)], 1)
    core = np.concatenate([np.repeat(uv0[:, None], _ARC_POINTS, 1), np.repeat(uv1[:, None], _ARC_POINTS, 1)], 1)
    return core + radius[..., None] * dirs, core


def ellipsoid_outline(centre_cam: np.ndarray, axes_cam: np.ndarray, focal, princpt, points: int = 18
                      ) -> np.ndarray:
    """Outline (points, 2) px of an ellipsoid under weak perspective at its centre.

    ``axes_cam`` (3, 3) holds the half-axis vectors (mm) as columns.
    """
    x, y, z = centre_cam
    jac = np.array([[focal[0] / z, 0.0, -focal[0] * x / z ** 2], [0.0, focal[1] / z, -focal[1] * y / z ** 2]])
    m = jac @ axes_cam
    cov = m @ m.T + np.eye(2) * MIN_RADIUS_PX ** 2
    chol = np.linalg.cholesky(cov)
    t = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], axis=0)
    return _project(centre_cam, focal, princpt)[None] + (chol @ circle).T


def _disc(centre: np.ndarray, radius: float, points: int = 8) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    return centre[None] + radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def person_primitives(person_id: int, joints_cam: np.ndarray, head_rot_cam: np.ndarray, face_cam: np.ndarray,
                      shape: B.BodyShape, look: Appearance, focal, princpt) -> list[Primitive]:
    """The 18 shaded primitives of one person (joints (21, 3) MuCo, camera mm; head_rot_cam: head frame →
    camera rotation; face_cam (5, 3) COCO face points, camera mm): 16 limb capsules, the torso, the head."""
    prims = _capsule_primitives(person_id, _limb_capsules(joints_cam, shape, look), focal, princpt)
    prims.append(_torso_primitive(person_id, joints_cam, shape, look.shirt, focal, princpt))
    prims.append(_head_primitive(person_id, joints_cam, head_rot_cam, face_cam, shape.height_mm, look, focal,
                                 princpt))
    return prims


def _limb_capsules(j: np.ndarray, shape: B.BodyShape, look: Appearance) -> list[tuple]:
    """The person's capsules ``(start (3,) mm, end (3,) mm, r0 mm, r1 mm, colour)`` in camera mm: spine, pelvis,
    neck, then per side arm, forearm, hand, thigh, shin, foot (radii from :data:`LIMB_RADII`, clothes coloured)."""
    h, g = shape.height_mm, shape.girth
    caps = []

    def cap(a, b, name, colour, girth=True):
        ra, rb = LIMB_RADII[name]
        k = h * (g if girth else 1.0)
        caps.append((a, b, ra * k, rb * k, colour))

    shirt, skin, trousers = look.shirt, look.skin, look.trousers
    cap(j[B.PELVIS] * 0.75 + j[B.SPINE] * 0.25, j[B.SPINE], "spine_low", shirt)
    cap(j[B.SPINE], j[B.THORAX], "spine_up", shirt)
    cap(j[B.R_HIP], j[B.L_HIP], "pelvis", trousers)
    cap(j[B.THORAX], j[B.THORAX] * 0.35 + j[B.HEAD] * 0.65, "neck", skin, girth=False)
    for sh, el, wr, ha, hip, kn, an, toe in (
            (B.R_SHOULDER, B.R_ELBOW, B.R_WRIST, B.R_HAND, B.R_HIP, B.R_KNEE, B.R_ANKLE, B.R_TOE),
            (B.L_SHOULDER, B.L_ELBOW, B.L_WRIST, B.L_HAND, B.L_HIP, B.L_KNEE, B.L_ANKLE, B.L_TOE)):
        cap(j[sh], j[el], "upper_arm", shirt)
        cap(j[el], j[wr], "forearm", skin if look.short_sleeves else shirt)
        cap(j[wr], j[ha], "hand", skin, girth=False)
        cap(j[hip], j[kn], "thigh", trousers)
        cap(j[kn], j[an], "shin", skin if look.shorts else trousers)
        cap(j[an], j[toe], "foot", look.shoes, girth=False)
    return caps


def _capsule_primitives(person_id: int, caps: list[tuple], focal, princpt) -> list[Primitive]:
    """Project camera-mm capsules (:func:`_limb_capsules`) to image outlines, radii at least
    :data:`MIN_RADIUS_PX`; each primitive's depth is the mean camera Z (mm) of its two ends."""
    f0 = focal[0]
    p0 = np.array([c[0] for c in caps])
    p1 = np.array([c[1] for c in caps])
    uv0, uv1 = _project(p0, focal, princpt), _project(p1, focal, princpt)
    r0 = np.maximum(np.array([c[2] for c in caps]) * f0 / p0[:, 2], MIN_RADIUS_PX)
    r1 = np.maximum(np.array([c[3] for c in caps]) * f0 / p1[:, 2], MIN_RADIUS_PX)
    outlines, cores = capsule_outlines(uv0, uv1, r0, r1)
    depth = (p0[:, 2] + p1[:, 2]) / 2
    return [Primitive(float(depth[i]), person_id, outlines[i], cores[i], caps[i][4]) for i in range(len(caps))]


def _torso_primitive(person_id: int, j: np.ndarray, shape: B.BodyShape, shirt: tuple, focal, princpt
                     ) -> Primitive:
    """The torso: the convex hull (px) of discs at the projected shoulders and hips (joints camera mm)."""
    corners = j[[B.R_SHOULDER, B.L_SHOULDER, B.L_HIP, B.R_HIP]]
    c_uv = _project(corners, focal, princpt)
    c_r = np.maximum(np.array([LIMB_RADII["torso_shoulder"]] * 2 + [LIMB_RADII["torso_hip"]] * 2)
                     * shape.height_mm * shape.girth * focal[0] / corners[:, 2], MIN_RADIUS_PX)
    pts = np.concatenate([_disc(c_uv[i], c_r[i]) for i in range(4)]).astype(np.float32)
    hull = cv2.convexHull(pts)[:, 0].astype(np.float64)
    return Primitive(float(corners[:, 2].mean()), person_id, hull, np.repeat(c_uv.mean(0)[None], len(hull), 0),
                     shirt)


def _head_primitive(person_id: int, j: np.ndarray, head_rot_cam: np.ndarray, face_cam: np.ndarray, h: float,
                    look: Appearance, focal, princpt) -> Primitive:
    """The head: the hair ellipsoid's outline (px) with, when the head is turned towards the camera, the face
    ellipsoid and the eyes that face the camera as details. ``h`` is the stature (mm); inputs camera mm."""
    centre = j[B.HEAD] + head_rot_cam @ (B.HEAD_CENTRE_OFFSET * h)
    head = ellipsoid_outline(centre, head_rot_cam * (B.HEAD_HALF_AXES * h)[None], focal, princpt)
    details = []
    forward = head_rot_cam[:, 2]
    facing = -float(forward @ centre) / float(np.linalg.norm(centre))
    if facing > -0.25:
        face_c = centre + head_rot_cam @ (FACE_CENTRE_OFFSET * h)
        details.append((ellipsoid_outline(face_c, head_rot_cam * (FACE_HALF_AXES * h)[None], focal, princpt),
                        look.skin))
        eye_r = 0.0065 * h * focal[0] / centre[2]
        if eye_r >= 0.8:
            for eye in face_cam[1:3]:
                normal = eye - centre
                if float(normal @ eye) < -0.3 * float(np.linalg.norm(normal) * np.linalg.norm(eye)):
                    details.append((_disc(_project(eye, focal, princpt), eye_r, 6), (30, 30, 35)))
    return Primitive(float(centre[2]), person_id, head, np.repeat(_project(centre, focal, princpt)[None],
                                                                   len(head), 0), look.hair, details)


def _fixed(poly: np.ndarray) -> np.ndarray:
    """Polygon px → OpenCV fixed-point int32 (coordinates must stay within ±2**27 px)."""
    return np.rint(poly * _SCALE).astype(np.int32)


def draw_order(primitives: list[Primitive]) -> list[int]:
    """Indices of ``primitives`` far to near (by ``depth_mm``, ties in list order)."""
    return sorted(range(len(primitives)), key=lambda i: (-primitives[i].depth_mm, i))


def rasterize(primitives: list[Primitive], image: np.ndarray, id_buffer: np.ndarray | None = None,
              antialias: bool = True) -> None:
    """Draw ``primitives`` far to near into ``image`` (H, W, 3 uint8, BGR) and, if given, their person ids into
    ``id_buffer`` (H, W uint8) with the same outlines (no anti-aliasing there). Both are modified in place."""
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    for i in draw_order(primitives):
        p = primitives[i]
        spread = p.outline_px - p.core_px
        radius = float(np.sqrt((spread ** 2).sum(1).mean()))
        colour = np.asarray(p.color, dtype=np.float64)
        for k, factor in SHADE_LAYERS:
            poly = p.core_px + k * spread
            if k < 1.0:
                poly = poly + _LIGHT_DIR * ((1.0 - k) * 0.45 * radius)
            cv2.fillConvexPoly(image, _fixed(poly), _bgr(colour * factor + (1.0 - k) * 25.0), line, SHIFT)
        for poly, c in p.details:
            cv2.fillConvexPoly(image, _fixed(poly), c, line, SHIFT)
        if id_buffer is not None:
            cv2.fillConvexPoly(id_buffer, _fixed(p.outline_px), int(p.person_id), cv2.LINE_8, SHIFT)


def rasterize_ids(primitives: list[Primitive], width: int, height: int) -> np.ndarray:
    """The person-id buffer (H, W) uint8 of ``primitives`` alone (0 = no person)."""
    ids = np.zeros((height, width), dtype=np.uint8)
    for i in draw_order(primitives):
        p = primitives[i]
        cv2.fillConvexPoly(ids, _fixed(p.outline_px), int(p.person_id), cv2.LINE_8, SHIFT)
    return ids
