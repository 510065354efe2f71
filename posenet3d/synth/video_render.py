"""Drawing the frames of a planned video clip (:mod:`posenet3d.synth.video_plan`) and reading the ground truth off
them: per-joint visibility, who hides whom, presence in the view, and occlusion episodes.

* **Background.** Drawn once per clip (:func:`clip_scenery`) with the still world's
  :func:`~posenet3d.synth.background.render_background`. A panning camera only turns about its centre, which maps
  images by the homography ``K · R_canvas · R_frameᵀ · K⁻¹``; so the background is drawn once on a canvas that
  covers every frame's view (the same camera at yaw 0, widened) and each frame warps it exactly.
* **People.** Each frame draws every person in front of the camera with the still world's renderer (far to
  near, the id buffer alongside); visibility, boxes and areas come from :func:`~posenet3d.synth.scene`'s own
  reading of the id buffer.
* **Sensor.** A 3×3 Gaussian blur (σ per clip) and grey noise (amplitude per clip, values per frame).

Random streams: the scenery of clip ``n`` draws from ``default_rng([seed, 3, n, 0])``, the noise of its frame
``f`` from ``default_rng([seed, 3, n, 1, f])``, so any frame can be drawn alone.

A person is **present** in a frame (listed in its annotations) when at least :data:`PRESENT_MIN_JOINTS` of its
17 MuPoTS joints project inside the image (hidden or not). An **occlusion episode** of person B by person A is a
maximal run of consecutive frames in which at least :data:`OCCLUDED_MIN_JOINTS` of B's 17 joints lie inside the
image at pixels where the id buffer shows A.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..skeletons import MUPOTS
from .background import render_background
from .render import rasterize
from .scene import ScenePerson, _person_in_camera, _scene_person
from .video_plan import VIDEO_CODE, ClipPlan, PanCamera

#: A person is listed in a frame when at least this many of its 17 MuPoTS joints are inside the image.
PRESENT_MIN_JOINTS = 4
#: A frame counts towards an occlusion episode when at least this many joints are hidden by the same person.
OCCLUDED_MIN_JOINTS = 2
#: People with any joint nearer than this (mm, camera Z) are not drawn (they would wrap around the camera).
MIN_DEPTH_MM = 300.0
_J = MUPOTS.joint_num


@dataclass
class Scenery:
    """A clip's background ``canvas`` (BGR uint8) drawn for ``canvas_camera`` (yaw 0), and its sensor: blur σ
    (px) and noise amplitude (grey levels)."""

    canvas: np.ndarray
    canvas_camera: PanCamera
    blur_sigma: float
    noise_amp: int


@dataclass
class FramePerson:
    """One drawn person in one frame: the still world's :class:`~posenet3d.synth.scene.ScenePerson`, whether
    it is ``present`` (listed), and ``hidden_by`` (17,): for each MuPoTS joint the id of the person whose pixel
    covers it (0 = none or outside the image)."""

    person: ScenePerson
    present: bool
    hidden_by: np.ndarray


def _canvas_camera(plan: ClipPlan) -> PanCamera:
    """The yaw-0 camera, widened (principal point shifted) so its image covers every frame's view plus 4 px."""
    cam = plan.camera_at(0)
    base = PanCamera(cam.width, cam.height, cam.focal, cam.princpt, cam.height_mm, cam.pitch_deg, cam.roll_deg, 0.0)
    if plan.pan_amp_deg == 0.0:
        return base
    w, h = cam.width - 1.0, cam.height - 1.0
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float)
    pts = []
    for yaw in np.linspace(-plan.pan_amp_deg, plan.pan_amp_deg, 17):
        frame = PanCamera(cam.width, cam.height, cam.focal, cam.princpt, cam.height_mm, cam.pitch_deg,
                          cam.roll_deg, float(yaw))
        m = frame_homography(base, frame)
        p = corners @ m.T
        pts.append(p[:, :2] / p[:, 2:])
    pts = np.concatenate(pts)
    left, top = np.maximum(0.0, -pts.min(0)) + 4.0
    right, bottom = np.maximum(0.0, pts.max(0) - [w, h]) + 4.0
    width, height = int(np.ceil(cam.width + left + right)), int(np.ceil(cam.height + top + bottom))
    princpt = (cam.princpt[0] + float(np.ceil(left)), cam.princpt[1] + float(np.ceil(top)))
    return PanCamera(width, height, cam.focal, princpt, cam.height_mm, cam.pitch_deg, cam.roll_deg, 0.0)


def _intrinsics(camera: PanCamera) -> np.ndarray:
    return np.array([[camera.focal[0], 0.0, camera.princpt[0]], [0.0, camera.focal[1], camera.princpt[1]],
                     [0.0, 0.0, 1.0]])


def frame_homography(canvas: PanCamera, frame: PanCamera) -> np.ndarray:
    """(3, 3) map from a frame pixel (homogeneous px) to the canvas pixel that sees the same ray."""
    return _intrinsics(canvas) @ canvas.rotation @ frame.rotation.T @ np.linalg.inv(_intrinsics(frame))


def clip_scenery(plan: ClipPlan) -> Scenery:
    """Draw the clip's background canvas and sensor settings from ``default_rng([seed, 3, clip, 0])``."""
    rng = np.random.default_rng([plan.seed, VIDEO_CODE, plan.clip, 0])
    canvas_camera = _canvas_camera(plan)
    canvas = render_background(rng, canvas_camera)
    return Scenery(canvas, canvas_camera, float(rng.uniform(0.3, 1.0)), int(rng.integers(1, 6)))


def background_at(plan: ClipPlan, scenery: Scenery, frame: int) -> np.ndarray:
    """The background (H, W, 3) BGR uint8 of ``frame``: the canvas itself for a static camera, else warped."""
    if plan.pan_amp_deg == 0.0:
        return scenery.canvas.copy()
    cam = plan.camera_at(frame)
    m = frame_homography(scenery.canvas_camera, cam)
    return cv2.warpPerspective(scenery.canvas, m, (cam.width, cam.height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _sensor(image: np.ndarray, scenery: Scenery, rng: np.random.Generator) -> np.ndarray:
    """Blur, then add grey noise in ``−a..a`` (near-uniform: random bytes modulo 2a + 1), saturating at 0 and
    255 (cheap: the noise of a 512² frame costs about 1 ms)."""
    image = cv2.GaussianBlur(image, (3, 3), scenery.blur_sigma)
    a = scenery.noise_amp
    h, w = image.shape[:2]
    noise = np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w) % np.uint8(2 * a + 1)
    return cv2.subtract(cv2.add(image, cv2.merge([noise, noise, noise])), (a, a, a, 0))


def render_frame(plan: ClipPlan, scenery: Scenery, frame: int) -> tuple[np.ndarray, list[FramePerson]]:
    """Draw frame ``frame`` → ``(image (H, W, 3) BGR uint8, people)``: one :class:`FramePerson` per person in
    front of the camera, in id order (absent ones included, with ``present`` False)."""
    cam = plan.camera_at(frame)
    rot = cam.rotation
    drawn = []
    for w in plan.walkers:
        body = w.bodies[frame]
        joints = np.round((w.root_world_mm[frame] + body.joints_mm) @ rot.T, 4)
        if joints[:, 2].min() >= MIN_DEPTH_MM:
            drawn.append(_person_in_camera(w.person_id, body, joints, w.look, cam))
    image = background_at(plan, scenery, frame)
    ids = np.zeros((cam.height, cam.width), dtype=np.uint8)
    rasterize([prim for p in drawn for prim in p.primitives], image, ids)
    image = _sensor(image, scenery, np.random.default_rng([plan.seed, VIDEO_CODE, plan.clip, 1, frame]))
    counts = np.bincount(ids.ravel(), minlength=256)
    people = []
    for p in drawn:
        sp = _scene_person(p, ids, float(counts[p.person_id]), cam)
        uv = sp.joints_img[:_J]
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= cam.width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= cam.height - 1)
        hidden_by = np.zeros(_J, dtype=np.int64)
        px = np.rint(uv[inside]).astype(np.int64)
        seen = ids[px[:, 1], px[:, 0]].astype(np.int64)
        hidden_by[inside] = np.where(seen == p.person_id, 0, seen)
        people.append(FramePerson(sp, int(inside.sum()) >= PRESENT_MIN_JOINTS, hidden_by))
    return image, people


def occlusion_episodes(hidden_by: list[dict[int, np.ndarray]]) -> list[dict]:
    """Occlusion episodes from per-frame ``{person_id: hidden_by (17,)}`` (see :class:`FramePerson`; people not
    drawn are missing): ``[{occluded, by, first_frame, last_frame, frames}]`` sorted by first frame, then ids."""
    runs: dict[tuple[int, int], int] = {}
    out = []
    for f, people in enumerate([*hidden_by, {}]):
        now = set()
        for pid, hb in people.items():
            occluders, count = np.unique(hb[hb > 0], return_counts=True)
            now |= {(pid, int(o)) for o, c in zip(occluders, count) if c >= OCCLUDED_MIN_JOINTS}
        for key in sorted(set(runs) - now):
            first = runs.pop(key)
            out.append({"occluded": key[0], "by": key[1], "first_frame": first, "last_frame": f - 1,
                        "frames": f - first})
        for key in now - set(runs):
            runs[key] = f
    return sorted(out, key=lambda e: (e["first_frame"], e["occluded"], e["by"]))
