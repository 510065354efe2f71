"""Varied backgrounds for the synthetic world: a wall gradient with shapes and stripes, a tiled floor below the
camera's true horizon, and low-frequency colour blotches. Images are BGR uint8, sizes in px."""
from __future__ import annotations

import cv2
import numpy as np

from .render import SHIFT, _fixed


def _colour(rng: np.random.Generator, lo: float = 15, hi: float = 240) -> tuple:
    """A random BGR colour with random saturation (mixed towards its grey level)."""
    c = rng.uniform(lo, hi, 3)
    c = c.mean() + (c - c.mean()) * rng.uniform(0.2, 1.0)
    return tuple(int(v) for v in c)


def _shapes(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    h, w = img.shape[:2]
    for _ in range(count):
        kind = int(rng.integers(4))
        colour = _colour(rng)
        cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
        sx, sy = rng.uniform(0.03, 0.35) * w, rng.uniform(0.03, 0.35) * h
        if kind == 0:  # rectangle (window, door, poster, furniture), sometimes striped or framed
            angle = rng.uniform(-0.15, 0.15) if rng.random() < 0.3 else 0.0
            c, s = np.cos(angle), np.sin(angle)
            box = np.array([[-sx, -sy], [sx, -sy], [sx, sy], [-sx, sy]]) @ np.array([[c, s], [-s, c]])
            cv2.fillConvexPoly(img, _fixed(box + [cx, cy]), colour, cv2.LINE_8, SHIFT)
            if rng.random() < 0.35:
                stripe = _colour(rng)
                step = max(2.0, rng.uniform(0.1, 0.3) * 2 * sx)
                for x in np.arange(cx - sx + step / 2, cx + sx, step):
                    cv2.line(img, (int(x), int(cy - sy)), (int(x), int(cy + sy)), stripe,
                             int(rng.integers(1, 4)))
            elif rng.random() < 0.3:
                cv2.polylines(img, [_fixed(box * 0.85 + [cx, cy])], True, _colour(rng), 2, cv2.LINE_8, SHIFT)
        elif kind == 1:  # ellipse
            cv2.ellipse(img, (int(cx), int(cy)), (int(sx / 2) + 1, int(sy / 2) + 1), float(rng.uniform(0, 180)),
                        0, 360, colour, -1)
        elif kind == 2:  # band of stripes across the image
            angle = rng.uniform(0, np.pi)
            d = np.array([np.cos(angle), np.sin(angle)])
            nrm = np.array([-d[1], d[0]])
            step, width = rng.uniform(6, 40), int(rng.integers(2, 10))
            for k in range(int(rng.integers(2, 8))):
                o = np.array([cx, cy]) + nrm * step * k
                a, b = o - d * 2 * (w + h), o + d * 2 * (w + h)
                cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, width)
        else:  # random convex polygon
            t = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            poly = np.stack([cx + sx * np.cos(t), cy + sy * np.sin(t)], axis=1)
            cv2.fillConvexPoly(img, _fixed(poly), colour, cv2.LINE_8, SHIFT)


def render_background(rng: np.random.Generator, camera) -> np.ndarray:
    """A background image (H, W, 3) uint8 BGR for ``camera`` (a :class:`posenet3d.synth.scene.Camera`).

    The floor is the camera's ground plane seen through ``camera.ground_to_image(points (N, 3))`` (ground points
    ``[x, 0, z]`` mm in the world frame, 0 = on the ground → ``(uv px (N, 2), z_cam mm (N,))``), so its
    horizon matches the pitch and roll of the camera the people stand in front of.
    """
    width, height, ground_to_image = camera.width, camera.height, camera.ground_to_image
    top, bottom = np.array(_colour(rng, 20, 235), float), np.array(_colour(rng, 20, 235), float)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = (top[None, None] * (1 - ramp) + bottom[None, None] * ramp).astype(np.uint8)
    _shapes(rng, img, int(rng.integers(2, 13)))

    if rng.random() < 0.85:
        far = 1e7
        (uv, z) = ground_to_image(np.array([[-far, 0.0, far], [far, 0.0, far]]))
        # The floor: everything below the horizon line (the image of the ground at infinity).
        slope = (uv[1, 1] - uv[0, 1]) / (uv[1, 0] - uv[0, 0])
        v_left = uv[0, 1] + slope * (0.0 - uv[0, 0])
        v_right = uv[0, 1] + slope * (width - 1 - uv[0, 0])
        big = 4.0 * (width + height)
        floor = np.array([[-big, v_left - slope * big], [width - 1 + big, v_right + slope * big],
                          [width - 1 + big, height + big], [-big, height + big]])
        cv2.fillConvexPoly(img, _fixed(floor), _colour(rng, 30, 220), cv2.LINE_8, SHIFT)
        if rng.random() < 0.7:
            tile = rng.uniform(400.0, 1500.0)
            line_colour, thick = _colour(rng), int(rng.integers(1, 3))
            offset = rng.uniform(0, tile)
            across = [([-3e4, 0.0, d], [3e4, 0.0, d]) for d in offset + tile * np.arange(1, 40) if d < 4e4]
            along = [([x, 0.0, 300.0], [x, 0.0, 6e4]) for x in offset + tile * np.arange(-20, 21)]
            segs = np.array(across + along, dtype=np.float64)
            uv, z = ground_to_image(segs.reshape(-1, 3))
            uv, z = uv.reshape(-1, 2, 2), z.reshape(-1, 2)
            for (a, b), za in zip(np.clip(uv, -1e5, 1e5), z):
                if za.min() > 50.0:
                    cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), line_colour, thick)

    gh, gw = int(rng.integers(2, 8)), int(rng.integers(2, 8))
    blotch = cv2.resize(rng.normal(0.0, rng.uniform(5, 30), (gh, gw, 3)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_LINEAR)
    return np.clip(img.astype(np.float32) + blotch, 0, 255).astype(np.uint8)
