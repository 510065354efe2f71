"""CenterNet training targets: Gaussian centre heatmaps, sizes, offsets and (multi_pose) joint targets.

All coordinates here are **output pixels** (the stride-4 map; the caller has already applied the image → output
affine): boxes ``[x1, y1, x2, y2]``, joints ``(J, 3)`` = ``[x, y, visibility]``. Pixel ``(x, y)`` of the map is at
integer coordinates; a centre ``ct`` lands on pixel ``int(ct)`` (truncation) with sub-pixel offset ``ct - int(ct)``.
"""
from __future__ import annotations

import math

import numpy as np

RADIUS_MODES = ("original", "corrected")


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius, copied from CornerNet *with its typo* (the default, for parity with the published models).

    The three quadratics ``a·r² - b·r + c = 0`` are meant to give the largest corner shift keeping IoU ≥
    ``min_overlap``; as coded, r1 and r2 take the large root and none divides by 2a, so the result is always
    the third case times 4t: about 0.273·side for a square box with t = 0.7 (see :func:`gaussian_radius_corrected`).
    """
    h, w, t = float(height), float(width), float(min_overlap)
    b1, c1 = h + w, w * h * (1 - t) / (1 + t)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - t) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * t, -2 * t * (h + w), (t - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_radius_corrected(height: float, width: float, min_overlap: float = 0.7) -> float:
    """The mathematically intended radius (CornerNet's later fix): ``r1 = (b1 - √Δ1)/(2a1)``,
    ``r2 = (b2 - √Δ2)/(2a2)``, ``r3 = (b3 + √Δ3)/(2a3)``; about 0.0817·side for a square box with t = 0.7."""
    h, w, t = float(height), float(width), float(min_overlap)
    a1, b1, c1 = 1.0, h + w, w * h * (1 - t) / (1 + t)
    r1 = (b1 - math.sqrt(b1 ** 2 - 4 * a1 * c1)) / (2 * a1)
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - t) * w * h
    r2 = (b2 - math.sqrt(b2 ** 2 - 4 * a2 * c2)) / (2 * a2)
    a3, b3, c3 = 4 * t, -2 * t * (h + w), (t - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / (2 * a3)
    return min(r1, r2, r3)


def box_radius(height: float, width: float, mode: str = "original", min_overlap: float = 0.7) -> int:
    """Integer Gaussian radius (output px) of a box of ``height`` × ``width`` output px, as the reference uses it:
    ``max(0, int(radius(ceil(h), ceil(w))))``; ``mode`` is ``original`` (parity) or ``corrected``."""
    if mode == "original":
        fn = gaussian_radius
    elif mode == "corrected":
        fn = gaussian_radius_corrected
    else:
        raise ValueError(f"unknown radius mode {mode!r}; choose one of {RADIUS_MODES}")
    return max(0, int(fn(math.ceil(height), math.ceil(width), min_overlap)))


def gaussian_2d(radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` Gaussian with σ = (2r+1)/6, peak 1 at the centre, values below eps·max set to 0."""
    d = 2 * radius + 1
    sigma = d / 6.0
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    return g


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int, k: float = 1.0) -> np.ndarray:
    """Paste a radius-``radius`` Gaussian (×k) at integer ``center`` = (x, y) into ``heatmap (H, W)`` in place,
    keeping the element-wise maximum and clipping at the borders. Returns ``heatmap``."""
    g = gaussian_2d(radius)
    x, y = int(center[0]), int(center[1])
    h, w = heatmap.shape
    left, right = min(x, radius), min(w - x, radius + 1)
    top, bottom = min(y, radius), min(h - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return heatmap
    region = heatmap[y - top:y + bottom, x - left:x + right]
    patch = g[radius - top:radius + bottom, radius - left:radius + right]
    np.maximum(region, patch * k, out=region)
    return heatmap


def _clip_box(box: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64).copy()
    b[[0, 2]] = np.clip(b[[0, 2]], 0, out_w - 1)
    b[[1, 3]] = np.clip(b[[1, 3]], 0, out_h - 1)
    return b


def _box_centre(box: np.ndarray, out_w: int, out_h: int
                ) -> tuple[float, float, np.ndarray, np.ndarray] | None:
    """A box ``[x1, y1, x2, y2]`` output px clipped to the map → ``(h, w, centre (2,) float32, integer centre
    (2,) int32)`` in output px, or None when clipping leaves it no width or height."""
    b = _clip_box(box, out_w, out_h)
    h, w = b[3] - b[1], b[2] - b[0]
    if h <= 0 or w <= 0:
        return None
    ct = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], dtype=np.float32)
    return h, w, ct, ct.astype(np.int32)


def _write_box(t: dict[str, np.ndarray], k: int, w: float, h: float, ct: np.ndarray, ct_int: np.ndarray,
               out_w: int) -> None:
    """Slot ``k`` of the box targets in ``t``: size (w, h) output px, flat index of the integer centre, its
    sub-pixel offset, and the mask that makes the slot count."""
    t["wh"][k] = w, h
    t["ind"][k] = ct_int[1] * out_w + ct_int[0]
    t["reg"][k] = ct - ct_int
    t["reg_mask"][k] = 1


def build_ctdet_targets(boxes_out: np.ndarray, classes: np.ndarray | None, num_classes: int,
                        out_size: tuple[int, int], max_objs: int = 128, radius_mode: str = "original"
                        ) -> dict[str, np.ndarray]:
    """Detection targets for one image.

    ``boxes_out (N, 4)`` = ``[x1, y1, x2, y2]`` in output px (clipped here to the map; boxes left with zero width
    or height are skipped), ``classes (N,)`` 0-based (None = all 0), ``out_size`` = (W_out, H_out).
    Returns ``hm (C, H, W)`` float32, ``wh (M, 2)`` (w, h output px), ``reg (M, 2)`` (centre − int(centre)),
    ``ind (M,)`` int64 (``y·W + x`` of the integer centre), ``reg_mask (M,)`` uint8, with ``M = max_objs``.
    """
    out_w, out_h = int(out_size[0]), int(out_size[1])
    boxes = np.asarray(boxes_out, dtype=np.float64).reshape(-1, 4)
    cls = np.zeros(len(boxes), dtype=np.int64) if classes is None else np.asarray(classes, dtype=np.int64)
    if len(cls) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(cls)} class ids")
    if len(cls) and (cls.min() < 0 or cls.max() >= num_classes):
        raise ValueError(f"class ids {sorted(set(cls.tolist()))} out of range for {num_classes} classes")
    hm = np.zeros((num_classes, out_h, out_w), dtype=np.float32)
    wh = np.zeros((max_objs, 2), dtype=np.float32)
    reg = np.zeros((max_objs, 2), dtype=np.float32)
    ind = np.zeros(max_objs, dtype=np.int64)
    reg_mask = np.zeros(max_objs, dtype=np.uint8)
    t = {"hm": hm, "wh": wh, "reg": reg, "ind": ind, "reg_mask": reg_mask}
    for k, (box, c) in enumerate(zip(boxes[:max_objs], cls[:max_objs])):
        centre = _box_centre(box, out_w, out_h)
        if centre is None:
            continue
        h, w, ct, ct_int = centre
        draw_gaussian(hm[c], ct_int, box_radius(h, w, radius_mode))
        _write_box(t, k, w, h, ct, ct_int, out_w)
    return t


def build_multi_pose_targets(boxes_out: np.ndarray, keypoints_out: np.ndarray, out_size: tuple[int, int],
                             max_objs: int = 32, radius_mode: str = "original", ignore_keypointless: bool = False
                             ) -> dict[str, np.ndarray]:
    """Person + joint targets for one image (the reference's ``multi_pose`` sample).

    ``boxes_out (N, 4)`` output px; ``keypoints_out (N, J, 3)`` = ``[x, y, v]`` output px, ``v > 0`` = labelled.
    On top of :func:`build_ctdet_targets` (one class) it returns ``hps (M, 2J)`` (joint − integer centre),
    ``hps_mask (M, 2J)``, ``hm_hp (J, H, W)`` (Gaussians of the person's radius at ``int(joint)``),
    ``hp_offset (M·J, 2)``, ``hp_ind (M·J,)``, ``hp_mask (M·J,)``. Only labelled joints inside the map count.

    A person with no labelled joint gets ``reg_mask = 0``. In the reference the centre is also set to 0.9999 and
    then overwritten by its Gaussian (peak 1), so it stays a positive centre; that is the default here.
    ``ignore_keypointless=True`` gives the evident intent instead: the centre pixel stays 0.9999 (not positive,
    weight (1 − 0.9999)⁴ ≈ 0 as a negative).
    """
    out_w, out_h = int(out_size[0]), int(out_size[1])
    boxes = np.asarray(boxes_out, dtype=np.float64).reshape(-1, 4)
    kps_all = np.asarray(keypoints_out, dtype=np.float64)
    if kps_all.ndim != 3 or kps_all.shape[0] != len(boxes) or kps_all.shape[2] != 3:
        raise ValueError(f"keypoints must be (N={len(boxes)}, J, 3), got shape {kps_all.shape}")
    t = build_ctdet_targets(np.zeros((0, 4)), None, 1, out_size, max_objs)
    t.update(_empty_joint_targets(max_objs, kps_all.shape[1], out_w, out_h))
    ignored: list[tuple[int, int]] = []
    labelled: set[tuple[int, int]] = set()
    for k in range(min(len(boxes), max_objs)):
        centre = _box_centre(boxes[k], out_w, out_h)
        if centre is None:
            continue
        h, w, ct, ct_int = centre
        radius = box_radius(h, w, radius_mode)
        _write_box(t, k, w, h, ct, ct_int, out_w)
        pts = kps_all[k]
        if pts[:, 2].sum() == 0:
            t["reg_mask"][k] = 0
            ignored.append((int(ct_int[0]), int(ct_int[1])))
        else:
            labelled.add((int(ct_int[0]), int(ct_int[1])))
        _write_joints(t, k, pts, ct_int, radius, out_w, out_h)
        draw_gaussian(t["hm"][0], ct_int, radius)
    if ignore_keypointless:
        for x, y in ignored:
            if (x, y) not in labelled:  # never un-mark another person's centre on the same pixel
                t["hm"][0, y, x] = 0.9999
    return t


def _empty_joint_targets(max_objs: int, j_num: int, out_w: int, out_h: int) -> dict[str, np.ndarray]:
    """Zeroed joint targets of :func:`build_multi_pose_targets` for ``max_objs`` people of ``j_num`` joints."""
    return {"hps": np.zeros((max_objs, 2 * j_num), dtype=np.float32),
            "hps_mask": np.zeros((max_objs, 2 * j_num), dtype=np.uint8),
            "hm_hp": np.zeros((j_num, out_h, out_w), dtype=np.float32),
            "hp_offset": np.zeros((max_objs * j_num, 2), dtype=np.float32),
            "hp_ind": np.zeros(max_objs * j_num, dtype=np.int64),
            "hp_mask": np.zeros(max_objs * j_num, dtype=np.uint8)}


def _write_joints(t: dict[str, np.ndarray], k: int, pts: np.ndarray, ct_int: np.ndarray, radius: int, out_w: int,
                  out_h: int) -> None:
    """Joint targets of person ``k`` in ``t`` from ``pts (J, 3)`` = ``[x, y, v]`` output px: for each labelled
    joint inside the map, its offset from the integer centre ``ct_int``, its own sub-pixel offset and flat index,
    and a radius-``radius`` Gaussian in its heatmap."""
    j_num = pts.shape[0]
    for j in range(j_num):
        x, y, v = pts[j]
        if v <= 0 or not (0 <= x < out_w and 0 <= y < out_h):
            continue
        pt = np.array([x, y], dtype=np.float32)
        pt_int = pt.astype(np.int32)
        t["hps"][k, 2 * j:2 * j + 2] = pt - ct_int
        t["hps_mask"][k, 2 * j:2 * j + 2] = 1
        t["hp_offset"][k * j_num + j] = pt - pt_int
        t["hp_ind"][k * j_num + j] = pt_int[1] * out_w + pt_int[0]
        t["hp_mask"][k * j_num + j] = 1
        draw_gaussian(t["hm_hp"][j], pt_int, radius)
