"""One synthetic image: a random camera over a ground plane, 1–6 people standing on it, rendered with occlusion.

Frames and units:

* **world**: x right, y down (gravity), z forward (horizontal), mm; the camera sits at the origin, ``height_mm``
  above the ground plane ``y = height_mm``.
* **camera**: x right, y down, z forward (optical axis), mm; ``X_cam = R @ X_world`` with
  ``R = Camera.rotation`` (pitch about x, roll about the optical axis, no translation).
* **image**: px, integer pixel centres; a point is inside the image iff ``0 ≤ u ≤ W−1`` and ``0 ≤ v ≤ H−1``.

Per-joint visibility is read from what was drawn: a joint is visible iff it is inside the image and the
person-id buffer at its (rounded) pixel does not show another person.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ..geometry import cam2pixel
from ..skeletons import COCO, MUCO
from . import body as B
from .background import render_background
from .poses import sample_body
from .render import (
    Appearance,
    Primitive,
    person_primitives,
    rasterize,
    sample_appearance,
)

#: Root (Pelvis) depth range in mm.
ROOT_DEPTH_RANGE_MM = (2000.0, 8000.0)
#: Default range of people per image (inclusive).
PEOPLE_RANGE = (1, 6)
#: Horizontal field-of-view range in degrees; image aspect ratios (width / height) and size factors.
HFOV_RANGE_DEG = (40.0, 75.0)
ASPECTS = (0.75, 0.8, 1.0, 1.25, 4.0 / 3.0)
SIZE_FACTORS = (0.875, 1.0, 1.125)
#: Probability that a person is placed fully inside the image (else it may be cut by the border).
P_FULLY_INSIDE = 0.8
_PLACEMENT_TRIES = 60
#: Reject a placement whose box is covered more than this (intersection / smaller box area) by another's.
MAX_BOX_COVER = 0.75
#: MuCo joint index of each of the 12 COCO body keypoints (COCO keypoints 5..16).
COCO_BODY_FROM_MUCO = tuple(MUCO.index(name) for name in COCO.joints_name[5:17])
COCO_KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                       "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                       "left_knee", "right_knee", "left_ankle", "right_ankle")
#: COCO person skeleton (1-based keypoint indices, as in the COCO annotation files).
COCO_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                 (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera over a ground plane.

    ``focal`` (fx, fy) and ``princpt`` (cx, cy) in px; ``height_mm`` above the ground; ``pitch_deg`` the optical
    axis below the horizontal (+ looks down); ``roll_deg`` about the optical axis.
    """

    width: int
    height: int
    focal: tuple
    princpt: tuple
    height_mm: float
    pitch_deg: float
    roll_deg: float

    @property
    def rotation(self) -> np.ndarray:
        """World → camera rotation ``R`` (3, 3): ``X_cam = R @ X_world``."""
        return (B.rot_x(-self.pitch_deg) @ B.rot_z(self.roll_deg)).T

    def ground_to_image(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points given relative to the ground (``[x, y, z]`` mm, y = 0 on the ground, down positive) →
        ``(uv px (N, 2), z_cam mm (N,))``."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3) + np.array([0.0, self.height_mm, 0.0])
        cam = p @ self.rotation.T
        z = cam[:, 2]
        safe = np.where(np.abs(z) < 1e-6, 1e-6, z)
        uv = np.stack([cam[:, 0] / safe * self.focal[0] + self.princpt[0],
                       cam[:, 1] / safe * self.focal[1] + self.princpt[1]], axis=1)
        return uv, z


@dataclass
class ScenePerson:
    """One rendered person.

    Attributes:
        person_id: value of this person in the id buffer (1-based, placement order).
        body: the posed body (:class:`posenet3d.synth.body.PosedBody`: shape, pose family, angles, yaw).
        appearance: colours and clothing.
        joints_cam: (21, 3) MuCo joints, camera mm (rounded to 1e-4 mm; everything else derives from these).
        joints_img: (21, 2) ``cam2pixel(joints_cam)`` px.
        joints_vis: (21,) bool, inside the image and not covered by another person.
        face_cam: (5, 3) COCO face points (nose, left/right eye, left/right ear), camera mm.
        coco_keypoints: (17, 3) COCO ``[x px, y px, v]``: v = 2 visible, 1 inside the image but hidden (by
            another person, or a face point on the far side of the head), 0 outside (then x = y = 0).
        bbox: ``[x, y, w, h]`` px, the extent of the person's whole drawn silhouette (parts hidden behind nearer
            people included), clipped to ``[0, W−1] × [0, H−1]``.
        area: pixels of the image that show this person (the id buffer count).
        primitives: the drawn parts (image px), for checks and debugging.
    """

    person_id: int
    body: B.PosedBody
    appearance: Appearance
    joints_cam: np.ndarray
    joints_img: np.ndarray
    joints_vis: np.ndarray
    face_cam: np.ndarray
    coco_keypoints: np.ndarray
    bbox: np.ndarray
    area: float
    primitives: list


def sample_camera(rng: np.random.Generator, size: int = 512) -> Camera:
    """Image size near ``size`` (factor 0.875/1/1.125, aspect width/height in 0.75–1.33, multiples of 8), fx = fy from a
    horizontal FOV of 40–75°, principal point within ±2 % of the centre, camera 0.7–1.9 m above the ground,
    pitched so that mid-body height at a typical distance is near the image centre, small roll.
    Intrinsics are rounded to 1e-4 px (the stored values are the ones used)."""
    if size < 32:
        raise ValueError(f"sample_camera: size must be at least 32 px, got {size}")
    factor = float(SIZE_FACTORS[int(rng.integers(len(SIZE_FACTORS)))])
    aspect = float(ASPECTS[int(rng.integers(len(ASPECTS)))])
    width = max(32, round(float(size) * factor * math.sqrt(aspect) / 8.0) * 8)
    height = max(32, round(width / aspect / 8.0) * 8)
    while width / height < ASPECTS[0] - 1e-9:
        height -= 8
    while width / height > ASPECTS[-1] + 1e-9:
        height += 8
    hfov = math.radians(rng.uniform(*HFOV_RANGE_DEG))
    f = round(width / 2.0 / math.tan(hfov / 2.0), 4)
    cx = round((width - 1) / 2.0 + rng.uniform(-0.02, 0.02) * width, 4)
    cy = round((height - 1) / 2.0 + rng.uniform(-0.02, 0.02) * height, 4)
    cam_h = float(rng.uniform(700.0, 1900.0))
    pitch = math.degrees(math.atan2(cam_h - 950.0, rng.uniform(3500.0, 6500.0))) + float(rng.normal(0.0, 2.0))
    roll = float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0))
    return Camera(width=width, height=height, focal=(f, f), princpt=(cx, cy), height_mm=cam_h,
                  pitch_deg=float(np.clip(pitch, -8.0, 20.0)), roll_deg=roll)


def _box(uv: np.ndarray, margin: np.ndarray | float) -> np.ndarray:
    return np.array([np.min(uv[:, 0] - margin), np.min(uv[:, 1] - margin),
                     np.max(uv[:, 0] + margin), np.max(uv[:, 1] + margin)])


def _cover(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-9)


def place_people(rng: np.random.Generator, camera: Camera, num_people: int) -> list[tuple[B.PosedBody, np.ndarray]]:
    """Sample up to ``num_people`` bodies and stand them on the ground in view.

    Each person gets a root depth in :data:`ROOT_DEPTH_RANGE_MM` and an image column; the ground fixes the
    height. With probability :data:`P_FULLY_INSIDE` the whole body (plus a head-sized margin) must be inside
    the image, otherwise only the Pelvis and at least 40 % of the joints. People never interpenetrate (their
    horizontal reach circles are disjoint) and no box may be almost covered by another. A person that cannot be
    placed in a few dozen tries is dropped (the first one always gets more tries and relaxed rules).

    Returns ``[(body, joints_cam (21, 3) mm rounded to 1e-4)]`` in placement order.
    """
    if num_people < 1:
        raise ValueError(f"place_people: num_people must be >= 1, got {num_people}")
    rot = camera.rotation
    rot_cw = rot.T
    fx, cx = camera.focal[0], camera.princpt[0]
    w, h = camera.width, camera.height
    placed: list[tuple[B.PosedBody, np.ndarray]] = []
    grounds, reaches, boxes = [], [], []
    for i in range(num_people):
        tries = _PLACEMENT_TRIES * (4 if i == 0 else 1)
        for attempt in range(tries):
            if attempt % 10 == 0:  # a new body now and then
                body = sample_body(rng)
            full = rng.random() < (P_FULLY_INSIDE if attempt < tries // 2 or i > 0 else 0.0)
            z = rng.uniform(*ROOT_DEPTH_RANGE_MM)
            u = rng.uniform(0.0, w - 1.0)
            x = (u - cx) / fx * z
            # Ground contact: world y of the Pelvis = camera height − pelvis height above the sole.
            y = (camera.height_mm - body.ground_offset_mm - rot_cw[1, 0] * x - rot_cw[1, 2] * z) / rot_cw[1, 1]
            root = np.array([x, y, z])
            joints = np.round(root + body.joints_mm @ rot.T, 4)
            if joints[:, 2].min() < 300.0:
                continue
            uv = cam2pixel(joints, camera.focal, camera.princpt)[:, :2]
            inside = (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
            margin = 0.07 * body.shape.height_mm * fx / joints[:, 2]
            box = _box(uv, margin)
            if full:
                if box[0] < 0 or box[1] < 0 or box[2] > w - 1 or box[3] > h - 1:
                    continue
            elif not (inside[B.PELVIS] and inside.mean() >= 0.4):
                continue
            ground = (root @ rot)[[0, 2]]
            xz = body.joints_mm[:, [0, 2]]
            reach = float(np.linalg.norm(xz, axis=1).max()) + 0.06 * body.shape.height_mm
            if any(np.linalg.norm(ground - g) < reach + r + 50.0 for g, r in zip(grounds, reaches)):
                continue
            if any(_cover(box, b) > MAX_BOX_COVER for b in boxes):
                continue
            placed.append((body, joints))
            grounds.append(ground)
            reaches.append(reach)
            boxes.append(box)
            break
    if not placed:
        raise RuntimeError(f"place_people: could not place anyone in view of {camera}")
    return placed


def _post_process(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Mild lens blur and sensor noise."""
    sigma = float(rng.uniform(0.3, 1.0))
    image = cv2.GaussianBlur(image, (3, 3), sigma)
    amp = int(rng.integers(1, 6))
    noise = rng.integers(-amp, amp + 1, size=image.shape[:2] + (1,), dtype=np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _visibility(uv: np.ndarray, ids: np.ndarray, person_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(inside (N,), covered by another person (N,)) for points uv (N, 2) px."""
    h, w = ids.shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
    seen = np.zeros(len(uv), dtype=np.int64)
    px = np.rint(uv[inside]).astype(np.int64)
    seen[inside] = ids[px[:, 1], px[:, 0]]
    return inside, inside & (seen != 0) & (seen != person_id)


def render_scene(rng: np.random.Generator, camera: Camera | None = None, *, size: int = 512,
                 num_people: int | None = None, background: np.ndarray | None = None, antialias: bool = True
                 ) -> tuple[np.ndarray, list[ScenePerson]]:
    """Render one image.

    Args:
        rng: the only source of randomness (same state → same image and people).
        camera: the camera; sampled with :func:`sample_camera` (``size``) when None.
        num_people: people to place (fewer if they do not fit); default uniform in :data:`PEOPLE_RANGE`.
        background: a (H, W, 3) uint8 BGR background to draw on (copied); generated when None.
        antialias: anti-aliased polygon edges in the image (the id buffer is never anti-aliased).

    Returns ``(image (H, W, 3) uint8 BGR, people)``, ``people`` a list of :class:`ScenePerson`.
    """
    if camera is None:
        camera = sample_camera(rng, size)
    if num_people is None:
        num_people = int(rng.integers(PEOPLE_RANGE[0], PEOPLE_RANGE[1] + 1))
    if not 1 <= num_people <= 255:
        raise ValueError(f"render_scene: num_people must be in 1..255, got {num_people}")
    placed = place_people(rng, camera, num_people)
    looks = [sample_appearance(rng) for _ in placed]
    image = _background_image(rng, camera, background)
    drawn = [_person_in_camera(pid, body, joints, look, camera)
             for pid, ((body, joints), look) in enumerate(zip(placed, looks), start=1)]
    ids = np.zeros((camera.height, camera.width), dtype=np.uint8)
    rasterize([prim for person in drawn for prim in person.primitives], image, ids, antialias=antialias)
    image = _post_process(rng, image)
    counts = np.bincount(ids.ravel(), minlength=len(drawn) + 1)
    people = [_scene_person(person, ids, float(counts[person.person_id]), camera) for person in drawn]
    return image, people


class _DrawnPerson(NamedTuple):
    """A placed person on its way to the image: body, looks, and everything in the camera frame (mm) and image px."""

    person_id: int
    body: B.PosedBody
    look: Appearance
    joints_cam: np.ndarray
    face_cam: np.ndarray
    head_rot_cam: np.ndarray
    primitives: list[Primitive]


def _background_image(rng: np.random.Generator, camera: Camera, background: np.ndarray | None) -> np.ndarray:
    """A (H, W, 3) uint8 BGR canvas: a copy of ``background`` when given (checked against the camera), else a
    generated one (drawing from ``rng``)."""
    if background is None:
        return render_background(rng, camera)
    if background.shape != (camera.height, camera.width, 3) or background.dtype != np.uint8:
        raise ValueError(f"render_scene: background must be ({camera.height}, {camera.width}, 3) uint8, got "
                         f"{background.shape} {background.dtype}")
    return background.copy()


def _person_in_camera(person_id: int, body: B.PosedBody, joints_cam: np.ndarray, look: Appearance,
                      camera: Camera) -> _DrawnPerson:
    """Turn a placed body's face points and head frame from world orientation into the camera frame (mm) and
    build its image primitives (px)."""
    rot = camera.rotation
    face = joints_cam[B.PELVIS] + body.face_mm @ rot.T
    head_rot = rot @ body.head_rot
    prims = person_primitives(person_id, joints_cam, head_rot, face, body.shape, look, camera.focal, camera.princpt)
    return _DrawnPerson(person_id, body, look, joints_cam, face, head_rot, prims)


def _scene_person(person: _DrawnPerson, ids: np.ndarray, area: float, camera: Camera) -> ScenePerson:
    """What the image shows of one drawn person: 2D joints (px), their visibility in the id buffer ``ids``,
    COCO keypoints and the silhouette box; ``area`` is its pixel count in ``ids``."""
    f, c = camera.focal, camera.princpt
    uv = cam2pixel(person.joints_cam, f, c)[:, :2]
    inside, hidden = _visibility(uv, ids, person.person_id)
    kp = _coco_keypoints(person, uv, inside, hidden, ids, camera)
    outline = np.concatenate([p.outline_px for p in person.primitives])
    x0, y0 = np.clip(outline.min(0), 0, [camera.width - 1, camera.height - 1])
    x1, y1 = np.clip(outline.max(0), 0, [camera.width - 1, camera.height - 1])
    return ScenePerson(person_id=person.person_id, body=person.body, appearance=person.look,
                       joints_cam=person.joints_cam, joints_img=uv, joints_vis=inside & ~hidden,
                       face_cam=person.face_cam, coco_keypoints=kp, bbox=np.array([x0, y0, x1 - x0, y1 - y0]),
                       area=area, primitives=person.primitives)


def _coco_keypoints(person: _DrawnPerson, uv: np.ndarray, inside: np.ndarray, hidden: np.ndarray, ids: np.ndarray,
                    camera: Camera) -> np.ndarray:
    """(17, 3) COCO ``[x px, y px, v]`` from the face points and the body joints' ``uv`` px, ``inside`` and
    ``hidden`` (N,) masks: v = 2 visible, 1 inside but hidden (by another person, or a face point on the far
    side of the head), 0 outside (then x = y = 0)."""
    face_uv = cam2pixel(person.face_cam, camera.focal, camera.princpt)[:, :2]
    f_inside, f_hidden = _visibility(face_uv, ids, person.person_id)
    centre = person.joints_cam[B.HEAD] + person.head_rot_cam @ (B.HEAD_CENTRE_OFFSET * person.body.shape.height_mm)
    face = person.face_cam
    far_side = np.einsum("ij,ij->i", face - centre, face) > 0.0  # surface normal points away from the camera
    kp = np.zeros((17, 3))
    kp[:5, :2], kp[5:, :2] = face_uv, uv[list(COCO_BODY_FROM_MUCO)]
    k_inside = np.concatenate([f_inside, inside[list(COCO_BODY_FROM_MUCO)]])
    k_hidden = np.concatenate([f_hidden | far_side, hidden[list(COCO_BODY_FROM_MUCO)]])
    kp[:, 2] = np.where(k_inside, np.where(k_hidden, 1, 2), 0)
    kp[kp[:, 2] == 0, :2] = 0.0
    return kp
