"""Camera and crop geometry, vectorised over leading dimensions.

Frames and units used throughout posenet3d:

* **camera frame** (``*_cam_mm``): x right, y down, z forward (away from the camera), millimetres.
* **image frame** (``*_px``): u right, v down, pixels of the original image; pixel centres are integers.
* **world frame** (``*_world_mm``): a dataset's own frame; ``X_cam = R @ X_world + t`` (Human3.6M convention
  of the 3DMPPE annotation files, where ``t = -R @ T`` for camera centre ``T``).
* **boxes** are ``[x_min, y_min, width, height]`` in image pixels unless a name says otherwise.
"""
from __future__ import annotations

import numpy as np

#: Real-world area (mm x mm) assumed for a person's processed box by RootNet's k value (reference: 2 m x 2 m).
DEFAULT_AREA_REAL_MM = (2000.0, 2000.0)


def cam2pixel(joints_cam_mm: np.ndarray, focal_px, princpt_px) -> np.ndarray:
    """Project camera-frame points ``(..., 3)`` (mm) to ``(..., 3)`` = ``[u_px, v_px, Z_mm]``.

    ``focal_px`` = (fx, fy) and ``princpt_px`` = (cx, cy), broadcastable to ``(..., 2)``.
    """
    p = np.asarray(joints_cam_mm, dtype=np.float64)
    f = np.asarray(focal_px, dtype=np.float64)
    c = np.asarray(princpt_px, dtype=np.float64)
    z = p[..., 2]
    u = p[..., 0] / z * f[..., 0] + c[..., 0]
    v = p[..., 1] / z * f[..., 1] + c[..., 1]
    return np.stack([u, v, z], axis=-1)


def pixel2cam(uvz: np.ndarray, focal_px, princpt_px) -> np.ndarray:
    """Back-project ``(..., 3)`` = ``[u_px, v_px, Z_mm]`` to camera-frame points ``(..., 3)`` in mm."""
    p = np.asarray(uvz, dtype=np.float64)
    f = np.asarray(focal_px, dtype=np.float64)
    c = np.asarray(princpt_px, dtype=np.float64)
    z = p[..., 2]
    x = (p[..., 0] - c[..., 0]) / f[..., 0] * z
    y = (p[..., 1] - c[..., 1]) / f[..., 1] * z
    return np.stack([x, y, z], axis=-1)


def world2cam(joints_world_mm: np.ndarray, R: np.ndarray, t_mm: np.ndarray) -> np.ndarray:
    """World-frame points ``(..., 3)`` → camera frame: ``X_cam = R @ X_world + t`` (mm)."""
    p = np.asarray(joints_world_mm, dtype=np.float64)
    return p @ np.asarray(R, dtype=np.float64).T + np.asarray(t_mm, dtype=np.float64).reshape(3)


def cam2world(joints_cam_mm: np.ndarray, R: np.ndarray, t_mm: np.ndarray) -> np.ndarray:
    """Inverse of :func:`world2cam`: ``X_world = R^T @ (X_cam - t)`` (mm)."""
    p = np.asarray(joints_cam_mm, dtype=np.float64) - np.asarray(t_mm, dtype=np.float64).reshape(3)
    return p @ np.asarray(R, dtype=np.float64)


def process_bboxes(bboxes_xywh: np.ndarray, img_width: float, img_height: float,
                   aspect_ratio: float = 1.0, extend: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """The reference's box processing, vectorised over ``(N, 4)`` boxes ``[x, y, w, h]`` (px).

    1. clip to the image: ``x1 = max(0, x)``, ``y1 = max(0, y)``, ``x2 = min(W-1, x1 + max(0, w-1))``,
       ``y2 = min(H-1, y1 + max(0, h-1))``;
    2. keep the centre and grow the smaller side to ``aspect_ratio`` = width / height of the network input;
    3. scale width and height by ``extend`` (1.25) around the centre.

    Returns ``(boxes (N, 4) float64, valid (N,) bool)``. A box is invalid when ``w*h <= 0`` or it lies
    entirely outside the image; invalid rows are returned as zeros. The result may leave the image (the crop
    pads with zeros), as in the reference.
    """
    b = np.asarray(bboxes_xywh, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    x1 = np.maximum(0.0, x)
    y1 = np.maximum(0.0, y)
    x2 = np.minimum(img_width - 1, x1 + np.maximum(0.0, w - 1))
    y2 = np.minimum(img_height - 1, y1 + np.maximum(0.0, h - 1))
    valid = (w * h > 0) & (x2 >= x1) & (y2 >= y1)
    bw, bh = x2 - x1, y2 - y1
    cx, cy = x1 + bw / 2.0, y1 + bh / 2.0
    widen = bw < aspect_ratio * bh
    bw = np.where(widen, bh * aspect_ratio, bw)
    bh = np.where(widen, bh, bw / aspect_ratio)
    bw, bh = bw * extend, bh * extend
    out = np.stack([cx - bw / 2.0, cy - bh / 2.0, bw, bh], axis=1)
    out[~valid] = 0.0
    return out, valid


def process_bbox(bbox_xywh, img_width: float, img_height: float,
                 aspect_ratio: float = 1.0, extend: float = 1.25) -> np.ndarray | None:
    """Single-box :func:`process_bboxes`; returns ``None`` for an invalid box (as the reference does)."""
    boxes, valid = process_bboxes(np.asarray(bbox_xywh, dtype=np.float64)[None], img_width, img_height,
                                  aspect_ratio, extend)
    return boxes[0] if valid[0] else None


def k_value(bboxes_xywh: np.ndarray, focal_px, area_real_mm=DEFAULT_AREA_REAL_MM) -> np.ndarray:
    """RootNet's camera-distance prior ``k = sqrt(A_x * A_y * fx * fy / (w * h))`` in mm.

    ``bboxes_xywh`` are *processed* boxes ``(..., 4)`` in px, ``focal_px`` (fx, fy) broadcastable to ``(..., 2)``,
    ``area_real_mm`` the assumed real extent of the box (2000 x 2000 mm; use (2, 2) for data in metres).
    """
    b = np.asarray(bboxes_xywh, dtype=np.float64)
    f = np.asarray(focal_px, dtype=np.float64)
    area = b[..., 2] * b[..., 3]
    if np.any(area <= 0):
        raise ValueError(f"k_value needs boxes with positive area, got areas {np.asarray(area).ravel()[:8]}")
    return np.sqrt(area_real_mm[0] * area_real_mm[1] * f[..., 0] * f[..., 1] / area)


def apply_affine(points_px: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to ``(..., 2)`` points (extra trailing columns, e.g. depth, are kept unchanged)."""
    p = np.asarray(points_px, dtype=np.float64)
    xy = p[..., :2] @ np.asarray(affine, dtype=np.float64)[:, :2].T + np.asarray(affine, dtype=np.float64)[:, 2]
    return np.concatenate([xy, p[..., 2:]], axis=-1)


def bbox_from_joints(joints_px: np.ndarray, vis: np.ndarray | None = None, extend: float = 1.2) -> np.ndarray:
    """A person box ``[x, y, w, h]`` from the extent of 2D joints ``(J, 2)``, enlarged ``extend`` times around
    its centre (the reference's ``get_bbox``: width = x_max - x_min - 1 before enlarging)."""
    j = np.asarray(joints_px, dtype=np.float64)
    if vis is not None:
        j = j[np.asarray(vis).reshape(-1) > 0]
    if len(j) == 0:
        raise ValueError("bbox_from_joints needs at least one visible joint")
    xmin, ymin = j[:, 0].min(), j[:, 1].min()
    xmax, ymax = j[:, 0].max(), j[:, 1].max()
    cx, cy = (xmin + xmax) / 2.0, (ymin + ymax) / 2.0
    w = (xmax - xmin - 1) * extend
    h = (ymax - ymin - 1) * extend
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h])
