"""The top-down crop and its inverse, made once: one function cuts a patch and returns the affine it used.

Every person crop in posenet3d (training targets, RootNet and PoseNet testing, the estimator) and the detector's
letterbox go through :func:`crop_patch` / :func:`crop_transform`; every decode maps patch (or heatmap) points
back through the :class:`CropRecord` those return, so encode and decode can never disagree.

**Boxes.** A person box as a source gives it (``[x, y, w, h]`` px, an annotation or a detection) becomes the
*crop box* in one place, :func:`crop_boxes`: the reference's ``process_bbox`` (clip to the image, widen the
smaller side to the patch aspect ratio, ×1.25 around the centre; :func:`posenet3d.geometry.process_bboxes`).
Boxes that are already crop boxes (the 3DMPPE ``bbox_root`` files) are used as they are.

**The crop** is the 3DMPPE reference procedure, reproduced bit for bit:

1. an occlusion rectangle, when asked, is filled with noise in a copy of the image;
2. with a flip, the image is mirrored (``u → W − 1 − u``) and the box centre with it (``c_x → W − 1 − c_x``);
3. the affine comes from three points built in float32: the box centre, the centre plus the half-height
   vector and the centre plus the half-width vector (both rotated by ``rot_deg`` and multiplied by ``scale``),
   mapped onto the patch centre, its bottom-edge middle and its right-edge middle by
   ``cv2.getAffineTransform``;
4. ``cv2.warpAffine`` of the whole (mirrored) image with that matrix, bilinear, zero border.

The warp reads the whole image because OpenCV's fixed-point sampling depends on the matrix's translation: a
sub-image warped with a shifted matrix differs from the full warp on a few pixels. ``warpAffine`` costs what
its *output* costs, so this is no slower; only the occlusion and the flip copy the image (training only).

**The record** (:class:`CropRecord`) holds the crop box, the exact image px → patch px affine (with a flip:
the warp matrix composed with the mirror, so it maps *original* image px) and its inverse, patch px → image px
(``cv2.invertAffineTransform``, the inversion ``warpAffine`` itself performs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import process_bboxes

__all__ = ["CropRecord", "crop_affine", "crop_boxes", "crop_patch", "crop_records", "crop_transform",
           "invert_affine", "stack_records"]


def crop_boxes(boxes_xywh, img_width: float, img_height: float, aspect_ratio: float = 1.0,
               processed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crop boxes ``(N, 4)`` px and their validity ``(N,)`` for source boxes ``(N, 4)`` ``[x, y, w, h]`` px.

    ``processed=False``: the reference's box processing (clip, widen to ``aspect_ratio`` = patch width /
    height, ×1.25); boxes with no area or entirely outside the image are invalid. ``processed=True``: the boxes
    are crop boxes already and are kept as they are (valid when their sides are positive).
    """
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    if processed:
        valid = (b[:, 2] > 0) & (b[:, 3] > 0)
        return b.copy(), valid
    out, valid = process_bboxes(b, img_width, img_height, aspect_ratio=aspect_ratio)
    valid &= (out[:, 2] > 0) & (out[:, 3] > 0)
    return out, valid


def crop_box(box_xywh, img_width: float, img_height: float, aspect_ratio: float = 1.0,
             processed: bool = False) -> np.ndarray | None:
    """Single-box :func:`crop_boxes`: the ``(4,)`` crop box px, or ``None`` when the box is unusable."""
    out, valid = crop_boxes(np.asarray(box_xywh, dtype=np.float64)[None], img_width, img_height, aspect_ratio,
                            processed)
    return out[0] if valid[0] else None


def _rotated_f32(vec, rad: float) -> np.ndarray:
    """A float32 2-vector rotated counter-clockwise by ``rad`` (float64 arithmetic, float32 result)."""
    x, y = np.float32(vec[0]), np.float32(vec[1])
    s, c = np.sin(np.float64(rad)), np.cos(np.float64(rad))  # float64 scalars: the products are float64
    return np.array([x * c - y * s, x * s + y * c], dtype=np.float32)


def crop_affine(center_px, size_px, out_size, rot_deg: float = 0.0, inverse: bool = False) -> np.ndarray:
    """The (2, 3) float64 affine mapping a box of the image onto an ``out_size`` = (W_out, H_out) patch.

    The box has centre ``center_px`` = (cx, cy) and size ``size_px`` = (w, h) px (any scale augmentation
    included); ``rot_deg`` rotates the sampled region counter-clockwise in the image (the patch content turns
    clockwise). The box centre lands on ``(W_out/2, H_out/2)``. Built from three float32 points as the reference
    (module docstring). ``inverse=True`` returns the exact inverse (patch px → image px) of that matrix.
    """
    w, h = float(size_px[0]), float(size_px[1])
    ow, oh = float(out_size[0]), float(out_size[1])
    rad = math.pi * float(rot_deg) / 180.0
    centre = np.array([center_px[0], center_px[1]], dtype=np.float32)
    src = np.stack([centre, centre + _rotated_f32((0.0, h * 0.5), rad), centre + _rotated_f32((w * 0.5, 0.0), rad)])
    dst = np.array([[ow * 0.5, oh * 0.5], [ow * 0.5, oh], [ow, oh * 0.5]], dtype=np.float32)
    m = cv2.getAffineTransform(src, dst)
    return invert_affine(m) if inverse else m


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine, as ``cv2.warpAffine`` inverts its matrix (float64)."""
    return cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64))


@dataclass(frozen=True)
class CropRecord:
    """How a patch was cut, for one crop or a batch (leading dimensions ``...``).

    Attributes:
        bbox: (..., 4) the crop box ``[x, y, w, h]`` in image px (before the scale augmentation).
        affine: (..., 2, 3) image px → patch px, exactly the warp's (with a flip, composed with the mirror).
        inverse: (..., 2, 3) patch px → image px, the exact inverse of ``affine``.
    """

    bbox: np.ndarray
    affine: np.ndarray
    inverse: np.ndarray

    def to_patch(self, points_px) -> np.ndarray:
        """Image px ``(..., K, 2)`` → patch px (extra trailing columns are kept)."""
        return _apply(self.affine, points_px)

    def to_image(self, points_patch_px) -> np.ndarray:
        """Patch px ``(..., K, 2)`` → image px (extra trailing columns are kept)."""
        return _apply(self.inverse, points_patch_px)

    def __len__(self) -> int:
        return len(self.bbox) if self.bbox.ndim > 1 else 1

    def __getitem__(self, index) -> CropRecord:
        return CropRecord(self.bbox[index], self.affine[index], self.inverse[index])


def _apply(affine: np.ndarray, points) -> np.ndarray:
    """``(..., 2, 3)`` affines applied to ``(..., K, 2+)`` points (trailing columns beyond 2 kept)."""
    a = np.asarray(affine, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    xy = np.einsum("...ij,...kj->...ki", a[..., :, :2], p[..., :2]) + a[..., None, :, 2]
    return np.concatenate([xy, p[..., 2:]], axis=-1)


def stack_records(records: list[CropRecord]) -> CropRecord:
    """One batched :class:`CropRecord` from single ones."""
    if not records:
        return CropRecord(np.zeros((0, 4)), np.zeros((0, 2, 3)), np.zeros((0, 2, 3)))
    return CropRecord(*(np.stack([getattr(r, f) for r in records]) for f in ("bbox", "affine", "inverse")))


def crop_transform(bbox_xywh, out_size, scale: float = 1.0, rot_deg: float = 0.0, flip: bool = False,
                   img_width: int | None = None) -> tuple[np.ndarray, CropRecord]:
    """``(warp matrix, record)`` of one crop of the crop box ``bbox_xywh`` (px) onto ``out_size`` = (W, H).

    The warp matrix applies to the image as warped (mirrored when ``flip``); the record's ``affine`` maps the
    original image. A flip needs ``img_width`` (px).
    """
    b = np.asarray(bbox_xywh, dtype=np.float64).reshape(4)
    cx, cy = float(b[0] + 0.5 * b[2]), float(b[1] + 0.5 * b[3])
    if flip:
        if img_width is None:
            raise ValueError("crop_transform: a flipped crop needs img_width")
        cx = img_width - cx - 1.0
    warp = crop_affine((cx, cy), (float(b[2]) * scale, float(b[3]) * scale), out_size, rot_deg)
    affine = warp
    if flip:  # warp ∘ (u → W − 1 − u): the first column changes sign, the translation absorbs W − 1
        affine = warp.copy()
        affine[:, 0] = -warp[:, 0]
        affine[:, 2] = warp[:, 0] * (img_width - 1.0) + warp[:, 2]
    return warp, CropRecord(b.copy(), affine, invert_affine(affine))


def crop_records(bboxes_xywh, out_size, scale=1.0, rot_deg=0.0) -> CropRecord:
    """Batched records (no flip) for crop boxes ``(..., 4)`` px and broadcastable ``scale``/``rot_deg``: the
    same matrices :func:`crop_patch` uses for those boxes."""
    b = np.asarray(bboxes_xywh, dtype=np.float64)
    s, r = np.asarray(scale, dtype=np.float64), np.asarray(rot_deg, dtype=np.float64)
    shape = np.broadcast_shapes(b.shape[:-1], s.shape, r.shape)
    b = np.broadcast_to(b, shape + (4,)).reshape(-1, 4)
    s, r = np.broadcast_to(s, shape).reshape(-1), np.broadcast_to(r, shape).reshape(-1)
    recs = stack_records([crop_transform(b[i], out_size, float(s[i]), float(r[i]))[1] for i in range(len(b))])
    return CropRecord(recs.bbox.reshape(shape + (4,)), recs.affine.reshape(shape + (2, 3)),
                      recs.inverse.reshape(shape + (2, 3)))


def crop_patch(img_bgr: np.ndarray, bbox_xywh, out_size, scale: float = 1.0, rot_deg: float = 0.0,
               flip: bool = False, occlusion: tuple[int, int, int, int] | None = None, noise_seed: int = 0
               ) -> tuple[np.ndarray, CropRecord]:
    """Cut the ``(H, W, C)`` uint8 patch (``out_size`` = (W, H)) of the crop box ``bbox_xywh`` (px) from
    ``img_bgr`` (``(H_img, W_img, C)`` uint8, never modified) by the reference procedure (module docstring).

    ``occlusion`` ``(x, y, w, h)`` (original-image px) is filled with noise drawn from ``noise_seed``
    (:func:`posenet3d.datasets.augment.occlude_region`). Returns ``(patch, record)``; the patch keeps the
    image's channel order.
    """
    img = img_bgr
    if occlusion is not None:
        from .datasets.augment import occlude_region  # training only
        img = img.copy()
        occlude_region(img, (0, 0), occlusion, noise_seed)
    if flip:
        img = np.ascontiguousarray(img[:, ::-1])
    warp, record = crop_transform(bbox_xywh, out_size, scale, rot_deg, flip, img_bgr.shape[1])
    size = (int(out_size[0]), int(out_size[1]))
    patch = cv2.warpAffine(img, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return patch, record
