"""The one top-down crop: byte-identical to the 3DMPPE reference procedure, its record exact, boxes in one place."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from posenet3d.crop import (
    crop_box,
    crop_boxes,
    crop_patch,
    crop_records,
    crop_transform,
    invert_affine,
)
from posenet3d.geometry import process_bbox

OUT = (256, 256)


def reference_patch(img: np.ndarray, bbox, scale: float, rot: float, flip: bool,
                    occlusion=None, noise_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A plain implementation of the reference's patch procedure (shared/reference/3dmppe.md §2.4, §3.4): copy
    the image, write the occlusion noise, mirror image and box centre, build the float32 three-point affine,
    warp the whole image. Returns (BGR uint8 patch, warp matrix)."""
    work = img.copy()
    if occlusion is not None:
        x, y, w, h = occlusion
        work[y:y + h, x:x + w] = np.random.default_rng(noise_seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cx = float(bbox[0] + 0.5 * bbox[2])
    cy = float(bbox[1] + 0.5 * bbox[3])
    if flip:
        work = work[:, ::-1, :]
        cx = img.shape[1] - cx - 1
    src_w, src_h = bbox[2] * scale, bbox[3] * scale
    rad = np.pi * rot / 180

    def turn(v):
        v = np.array(v, dtype=np.float32)
        sn, cs = np.sin(rad), np.cos(rad)
        return np.array([v[0] * cs - v[1] * sn, v[0] * sn + v[1] * cs], dtype=np.float32)

    centre = np.array([cx, cy], dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = centre
    src[1] = centre + turn([0, src_h * 0.5])
    src[2] = centre + turn([src_w * 0.5, 0])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [OUT[0] * 0.5, OUT[1] * 0.5]
    dst[1] = dst[0] + np.array([0, OUT[1] * 0.5], dtype=np.float32)
    dst[2] = dst[0] + np.array([OUT[0] * 0.5, 0], dtype=np.float32)
    trans = cv2.getAffineTransform(np.float32(src), np.float32(dst))
    return cv2.warpAffine(np.ascontiguousarray(work), trans, OUT, flags=cv2.INTER_LINEAR), trans


def random_case(rng: np.random.Generator):
    h, w = (int(v) for v in rng.integers(40, 500, size=2))
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    kind = rng.integers(4)
    side = rng.uniform(10, 1.5 * max(h, w))
    if kind == 0:  # inside
        c = rng.uniform([0, 0], [w, h])
    elif kind == 1:  # straddling an edge
        c = rng.uniform([-side / 3, -side / 3], [w + side / 3, h + side / 3])
    elif kind == 2:  # entirely outside
        c = np.array([w + side, rng.uniform(0, h)]) if rng.random() < 0.5 else np.array([rng.uniform(0, w), -side])
    else:  # huge box around everything
        c, side = np.array([w / 2, h / 2]), 3 * max(h, w)
    box = np.array([c[0] - side / 2, c[1] - side / 2, side * rng.uniform(0.5, 1.0), side])
    scale = float(np.clip(rng.standard_normal(), -1, 1) * 0.25 + 1) if rng.random() < 0.7 else 1.0
    rot = float(np.clip(rng.standard_normal(), -2, 2) * 30) if rng.random() < 0.6 else 0.0
    return img, box, scale, rot, bool(rng.random() < 0.5)


def test_patches_byte_identical_to_the_reference_procedure():
    rng = np.random.default_rng(0)
    for _ in range(300):
        img, box, scale, rot, flip = random_case(rng)
        want, trans = reference_patch(img, box, scale, rot, flip)
        got, _ = crop_patch(img, box, OUT, scale, rot, flip)
        assert got.dtype == np.uint8 and got.shape == (256, 256, 3)
        np.testing.assert_array_equal(got, want, err_msg=f"box {box} scale {scale} rot {rot} flip {flip}")
        warp, _ = crop_transform(box, OUT, scale, rot, flip, img.shape[1])
        np.testing.assert_array_equal(warp, trans)  # the very matrix, not an equal one
        assert np.array_equal(np.asarray(img), img)  # the input is untouched


def test_occluded_patches_byte_identical_and_input_untouched():
    rng = np.random.default_rng(1)
    for _ in range(60):
        img, box, scale, rot, flip = random_case(rng)
        h, w = img.shape[:2]
        x, y = int(rng.integers(0, w - 5)), int(rng.integers(0, h - 5))
        rect = (x, y, int(rng.integers(1, w - x)), int(rng.integers(1, h - y)))
        before = img.copy()
        got, _ = crop_patch(img, box, OUT, scale, rot, flip, occlusion=rect, noise_seed=7)
        want, _ = reference_patch(img, box, scale, rot, flip, occlusion=rect, noise_seed=7)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(img, before)


def test_record_maps_points_both_ways_exactly():
    rng = np.random.default_rng(2)
    for _ in range(50):
        img, box, scale, rot, flip = random_case(rng)
        _, rec = crop_patch(img, box, OUT, scale, rot, flip)
        np.testing.assert_array_equal(rec.inverse, invert_affine(rec.affine))
        pts = rng.uniform(-100, 600, size=(7, 2))
        np.testing.assert_allclose(rec.to_image(rec.to_patch(pts)), pts, rtol=0, atol=1e-9 * max(1, box[2]))
        # the record maps *original* image px: with a flip it equals the warp composed with the mirror
        warp, _ = crop_transform(box, OUT, scale, rot, flip, img.shape[1])
        mirrored = pts.copy()
        if flip:
            mirrored[:, 0] = img.shape[1] - 1 - mirrored[:, 0]
        np.testing.assert_allclose(rec.to_patch(pts), mirrored @ warp[:, :2].T + warp[:, 2], atol=1e-9)


def test_batched_records_equal_single_ones():
    rng = np.random.default_rng(3)
    boxes = rng.uniform(20, 300, size=(5, 4))
    rots = rng.uniform(-60, 60, size=5)
    recs = crop_records(boxes, OUT, 1.1, rots)
    for i in range(5):
        _, one = crop_transform(boxes[i], OUT, 1.1, rots[i])
        np.testing.assert_array_equal(recs.affine[i], one.affine)
        np.testing.assert_array_equal(recs.inverse[i], one.inverse)


def test_box_processing_in_one_place():
    raw = np.array([[100, 50, 41, 101], [10, 10, 0, 50], [500, 500, 40, 40], [-20, -20, 60, 60]], float)
    boxes, valid = crop_boxes(raw, 640, 480)
    assert valid.tolist() == [True, False, False, True]
    np.testing.assert_allclose(boxes[0], process_bbox(raw[0], 640, 480))
    assert crop_box(raw[1], 640, 480) is None
    done = np.array([3.0, 4.0, 50.0, 50.0])
    np.testing.assert_array_equal(crop_box(done, 640, 480, processed=True), done)  # used as it is
    assert crop_box([3.0, 4.0, 0.0, 50.0], 640, 480, processed=True) is None


def test_flip_needs_the_image_width():
    with pytest.raises(ValueError, match="img_width"):
        crop_transform([0, 0, 10, 10], OUT, flip=True)
