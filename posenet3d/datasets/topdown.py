"""The top-down codec: person record ⇄ network input, targets and outputs, for PoseNet and RootNet.

One place for every coordinate convention of the 3DMPPE pipeline, so training and testing cannot disagree.

Frames and units:

* **image px** ``(u, v)``: the original image (pixel centres are integers), see :mod:`posenet3d.geometry`.
* **patch px**: the ``input_shape`` = (H_in, W_in) crop (256²). The processed box's centre lands on
  ``(W_in/2, H_in/2)``; its sides span the patch (times the scale augmentation).
* **heatmap units** ``(x_hm, y_hm)``: patch px · ``output/input`` (0..63 for 64² heatmaps);
  ``z_hm = ((Z − Z_root)/(bbox_3d_depth/2) + 1)/2 · depth_dim`` (0..64 over ±1000 mm around the root).
* **camera mm**: absolute camera frame (x right, y down, z forward).

Encoding (training and the test-time crop): optional occlusion → (flip, scale, rotation) folded into one
affine → a single ``cv2.warpAffine`` (INTER_LINEAR, zero padding) → BGR→RGB → colour scale → normalisation
(:func:`posenet3d.preprocess.patch_to_tensor`). The flip never copies the image: sampling the mirrored image
``u' = W − 1 − u`` through the reference's crop affine ``T`` equals sampling the original through
``T ∘ mirror``. The warp reads only the image region the patch can touch, and the occlusion noise is written
into a copy of that region only, so its cost does not grow with the image size.

Decoding (:meth:`TopDownCodec.decode_pose`, :meth:`TopDownCodec.decode_root`): heatmap units → image px
→ camera mm. Two mappings of (x_hm, y_hm) to image px:

* ``"affine"`` (default): the exact inverse of the crop affine, ``x_hm·W_in/W_out`` then the inverse of
  :func:`posenet3d.geometry.crop_affine`; it also inverts scale and rotation when given.
* ``"reference"``: the 3DMPPE test code's ``u = x_hm/W_out·bbox_w + bbox_x``, valid only without scale or
  rotation.

Without scale and rotation the two are the same function (the affine inverse reduces algebraically to the
reference formula), so the default reproduces the published evaluation numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch

from posenet3d.geometry import (DEFAULT_AREA_REAL_MM, apply_affine, crop_affine, invert_affine, k_value,
                                pixel2cam)
from posenet3d.preprocess import patch_to_tensor
from posenet3d.skeletons import JointSet, get_joint_set, map_joints

from .augment import NO_AUG, AugParams, apply_color, occlude_region
from .base import PersonRecord

DECODE_MODES = ("affine", "reference")


class PoseTarget(NamedTuple):
    """One PoseNet training sample.

    ``img`` (3, H_in, W_in) float32 normalised input; ``joints_hm`` (J, 3) float32 ``[x_hm, y_hm, z_hm]``;
    ``vis`` (J,) float32 0/1; ``has_depth`` 1.0 for metric-depth datasets; ``affine`` (2, 3) image px → patch px.
    """

    img: torch.Tensor
    joints_hm: np.ndarray
    vis: np.ndarray
    has_depth: float
    affine: np.ndarray


class RootTarget(NamedTuple):
    """One RootNet training sample.

    ``img`` (3, H_in, W_in) float32; ``root`` (3,) float32 ``[x_hm, y_hm, Z_root_mm]`` (absolute depth);
    ``root_vis`` 0/1 (root annotated and inside the patch); ``k_value`` mm (:func:`posenet3d.geometry.k_value`
    of the processed box); ``has_depth``; ``affine`` (2, 3) image px → patch px.
    """

    img: torch.Tensor
    root: np.ndarray
    root_vis: float
    k_value: float
    has_depth: float
    affine: np.ndarray


class Decoded(NamedTuple):
    """Decoded network output: ``joints_img`` (..., 3) ``[u_px, v_px, Z_mm]`` in the original image with
    absolute depth, and ``joints_cam_mm`` (..., 3) in the camera frame."""

    joints_img: np.ndarray
    joints_cam_mm: np.ndarray


def _np(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def record_root_depth_mm(record: PersonRecord, joint_set: JointSet | None = None) -> float:
    """Absolute camera depth (mm) of the record's root: ``root_cam[2]`` when given, else the root joint's Z
    (0 for 2D-only datasets)."""
    if record.root_cam is not None:
        return float(np.asarray(record.root_cam, dtype=np.float64).reshape(3)[2])
    js = joint_set or get_joint_set(record.joint_set)
    return float(np.asarray(record.joints_img, dtype=np.float64)[js.root_idx, 2])


@dataclass(frozen=True)
class TopDownCodec:
    """Ground truth ⇄ network targets/outputs for PoseNet and RootNet.

    Args:
        input_shape: (H_in, W_in) of the network input patch (px).
        output_shape: (H_out, W_out) of the heatmaps; default ``input_shape // 4``.
        depth_dim: PoseNet depth bins.
        bbox_3d_depth_mm: the depth range covered by ``depth_dim`` bins (2000 → ±1000 mm around the root).
        area_real_mm: RootNet's assumed real box extent for k (mm; (2, 2) for data in metres).
        decode_mode: default heatmap → image mapping, ``"affine"`` or ``"reference"`` (module docstring).
    """

    input_shape: tuple[int, int] = (256, 256)
    output_shape: tuple[int, int] | None = None
    depth_dim: int = 64
    bbox_3d_depth_mm: float = 2000.0
    area_real_mm: tuple[float, float] = DEFAULT_AREA_REAL_MM
    decode_mode: str = "affine"

    def __post_init__(self) -> None:
        ih, iw = (int(v) for v in self.input_shape)
        if ih <= 0 or iw <= 0:
            raise ValueError(f"TopDownCodec: input_shape must be positive, got {self.input_shape}")
        object.__setattr__(self, "input_shape", (ih, iw))
        out = self.output_shape if self.output_shape is not None else (ih // 4, iw // 4)
        oh, ow = (int(v) for v in out)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"TopDownCodec: output_shape must be positive, got {out}")
        object.__setattr__(self, "output_shape", (oh, ow))
        if self.depth_dim <= 0 or self.bbox_3d_depth_mm <= 0:
            raise ValueError(f"TopDownCodec: depth_dim ({self.depth_dim}) and bbox_3d_depth_mm "
                             f"({self.bbox_3d_depth_mm}) must be positive")
        object.__setattr__(self, "area_real_mm", tuple(float(a) for a in self.area_real_mm))
        if self.decode_mode not in DECODE_MODES:
            raise ValueError(f"TopDownCodec: decode_mode must be one of {DECODE_MODES}, got {self.decode_mode!r}")

    @classmethod
    def from_config(cls, model_cfg) -> TopDownCodec:
        """Build from a :class:`posenet3d.config.ModelConfig` (``input_size``, ``depth_dim``,
        ``bbox_3d_depth_mm``, ``area_real_mm``)."""
        s = int(model_cfg.input_size)
        return cls(input_shape=(s, s), depth_dim=int(model_cfg.depth_dim),
                   bbox_3d_depth_mm=float(model_cfg.bbox_3d_depth_mm),
                   area_real_mm=tuple(model_cfg.area_real_mm))

    # ------------------------------------------------------------------ unit conversions
    @property
    def hm_per_patch_px(self) -> np.ndarray:
        """(x, y) heatmap units per patch pixel (W_out/W_in, H_out/H_in)."""
        return np.array([self.output_shape[1] / self.input_shape[1], self.output_shape[0] / self.input_shape[0]])

    def depth_mm_to_hm(self, z_rel_mm):
        """Root-relative depth (mm) → depth bins: ``((z/(D/2)) + 1)/2 · depth_dim``."""
        half = self.bbox_3d_depth_mm / 2.0
        return (np.asarray(z_rel_mm, dtype=np.float64) / half + 1.0) / 2.0 * self.depth_dim

    def depth_hm_to_mm(self, z_hm):
        """Depth bins → root-relative depth (mm): ``(z/depth_dim·2 − 1)·D/2``."""
        half = self.bbox_3d_depth_mm / 2.0
        return (np.asarray(z_hm, dtype=np.float64) / self.depth_dim * 2.0 - 1.0) * half

    # ------------------------------------------------------------------ crop
    def image_to_patch_affine(self, bbox_xywh, aug: AugParams = NO_AUG, img_width: int | None = None
                              ) -> np.ndarray:
        """The (2, 3) affine from original-image px to patch px for a processed box and an augmentation.

        With ``aug.flip`` it is the reference's crop of the mirrored image (box centre ``W − 1 − c_x``)
        composed with the mirror ``u → W − 1 − u``; ``img_width`` (px) is then required.
        """
        b = _np(bbox_xywh).reshape(4)
        cx, cy = b[0] + 0.5 * b[2], b[1] + 0.5 * b[3]
        if aug.flip:
            if img_width is None:
                raise ValueError("image_to_patch_affine: a flipped crop needs img_width")
            cx = img_width - cx - 1.0
        size = (b[2] * aug.scale, b[3] * aug.scale)
        m = crop_affine((cx, cy), size, (self.input_shape[1], self.input_shape[0]), aug.rot_deg)
        if aug.flip:
            mirror = np.array([[-1.0, 0.0, img_width - 1.0], [0.0, 1.0, 0.0]])
            m = m @ np.vstack([mirror, [0.0, 0.0, 1.0]])
        return m

    def crop(self, img_bgr: np.ndarray, bbox_xywh, aug: AugParams = NO_AUG) -> tuple[np.ndarray, np.ndarray]:
        """Cut the augmented patch: ``(patch_rgb (H_in, W_in, 3) float32 on 0..255, affine (2, 3))``.

        ``img_bgr`` is the full (H, W, 3) uint8 image as OpenCV reads it; it is never modified or copied whole.
        """
        if img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
            raise ValueError(f"crop: expected an (H, W, 3) BGR image, got shape {img_bgr.shape}")
        h_img, w_img = img_bgr.shape[:2]
        ih, iw = self.input_shape
        m = self.image_to_patch_affine(bbox_xywh, aug, w_img)
        inv = invert_affine(m)
        # The image region every patch pixel samples from (bilinear reads floor(x) and floor(x)+1).
        corners = apply_affine(np.array([[0.0, 0.0], [iw - 1.0, 0.0], [0.0, ih - 1.0], [iw - 1.0, ih - 1.0]]), inv)
        x0 = int(np.clip(np.floor(corners[:, 0].min()) - 2, 0, w_img))
        y0 = int(np.clip(np.floor(corners[:, 1].min()) - 2, 0, h_img))
        x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 3, 0, w_img))
        y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 3, 0, h_img))
        if x1 <= x0 or y1 <= y0:  # the patch lies entirely outside the image
            patch = np.zeros((ih, iw, 3), dtype=np.uint8)
        else:
            region = img_bgr[y0:y1, x0:x1]
            if aug.occlusion is not None:
                region = region.copy()
                occlude_region(region, (x0, y0), aug.occlusion, aug.noise_seed)
            inv_region = inv.copy()
            inv_region[:, 2] -= (x0, y0)
            patch = cv2.warpAffine(region, inv_region, (iw, ih), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        patch_rgb = patch[:, :, ::-1]
        if aug.color_scale != (1.0, 1.0, 1.0):
            return apply_color(patch_rgb, aug.color_scale), m
        return patch_rgb.astype(np.float32), m

    # ------------------------------------------------------------------ PoseNet
    def encode_pose(self, img_bgr: np.ndarray, bbox_xywh, joints_img, joints_vis, z_root_mm: float,
                    has_depth: bool, flip_perm: np.ndarray | None = None, aug: AugParams = NO_AUG) -> PoseTarget:
        """Input and targets for PoseNet.

        Args:
            img_bgr: (H, W, 3) uint8 full image.
            bbox_xywh: processed box (px).
            joints_img: (J, 3) ``[u_px, v_px, Z_mm]`` with absolute depth Z (ignored when not ``has_depth``).
            joints_vis: (J,) 0/1.
            z_root_mm: absolute depth of the root (mm).
            has_depth: the depths are metric; otherwise z targets are the root plane and masked by the loss.
            flip_perm: left/right permutation of the joints (:meth:`JointSet.flip_permutation`), needed when
                ``aug.flip``.
            aug: the augmentation (:data:`posenet3d.datasets.augment.NO_AUG` at test).
        """
        joints = _np(joints_img).reshape(-1, 3).copy()
        vis = _np(joints_vis).reshape(-1).copy()
        if len(vis) != len(joints):
            raise ValueError(f"encode_pose: {len(joints)} joints but {len(vis)} visibility flags")
        patch, m = self.crop(img_bgr, bbox_xywh, aug)
        if aug.flip:
            if flip_perm is None:
                raise ValueError("encode_pose: a flipped sample needs flip_perm")
            joints, vis = joints[flip_perm], vis[flip_perm]
        xy = apply_affine(joints[:, :2], m)  # the affine includes the mirror u → W − 1 − u
        z_rel = joints[:, 2] - z_root_mm if has_depth else np.zeros(len(joints))
        z01 = (z_rel / (self.bbox_3d_depth_mm / 2.0) + 1.0) / 2.0
        ih, iw = self.input_shape
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < iw) & (xy[:, 1] >= 0) & (xy[:, 1] < ih) & (z01 >= 0) & (z01 < 1)
        target = np.empty((len(joints), 3), dtype=np.float64)
        target[:, :2] = xy * self.hm_per_patch_px
        target[:, 2] = z01 * self.depth_dim
        vis_out = ((vis * inside) > 0).astype(np.float32)
        return PoseTarget(patch_to_tensor(patch), target.astype(np.float32), vis_out, float(bool(has_depth)), m)

    def encode_pose_record(self, img_bgr: np.ndarray, record: PersonRecord, joint_set_out: JointSet,
                           aug: AugParams = NO_AUG) -> PoseTarget:
        """:meth:`encode_pose` for a :class:`PersonRecord`, its joints re-indexed by name into
        ``joint_set_out`` (joints the record lacks get vis 0)."""
        src = get_joint_set(record.joint_set)
        joints, vis = map_joints(src, joint_set_out, _np(record.joints_img), _np(record.joints_vis))
        return self.encode_pose(img_bgr, record.bbox, joints, vis, record_root_depth_mm(record, src),
                                bool(record.has_depth), joint_set_out.flip_permutation(), aug)

    # ------------------------------------------------------------------ RootNet
    def encode_root(self, img_bgr: np.ndarray, bbox_xywh, root_px, root_vis: float, z_root_mm: float,
                    has_depth: bool, focal_px, aug: AugParams = NO_AUG) -> RootTarget:
        """Input and targets for RootNet: ``[x_hm, y_hm, Z_root_mm]``, root vis (× inside the patch) and
        ``k = k_value(processed box, focal)``. Flip and rotation leave k unchanged; a scale augmentation is
        refused because it would (the reference has none)."""
        if aug.scale != 1.0:
            raise ValueError(f"encode_root: RootNet takes no scale augmentation (k depends on the box), "
                             f"got scale {aug.scale}")
        if aug.occlusion is not None:
            raise ValueError("encode_root: RootNet takes no synthetic occlusion")
        patch, m = self.crop(img_bgr, bbox_xywh, aug)
        xy = apply_affine(_np(root_px).reshape(1, 2)[:, :2], m)[0]
        ih, iw = self.input_shape
        inside = 0 <= xy[0] < iw and 0 <= xy[1] < ih
        xy_hm = xy * self.hm_per_patch_px
        root = np.array([xy_hm[0], xy_hm[1], z_root_mm if has_depth else 0.0], dtype=np.float32)
        k = float(k_value(_np(bbox_xywh).reshape(4), _np(focal_px).reshape(2), self.area_real_mm))
        return RootTarget(patch_to_tensor(patch), root, float(root_vis > 0 and inside), k,
                          float(bool(has_depth)), m)

    def encode_root_record(self, img_bgr: np.ndarray, record: PersonRecord, aug: AugParams = NO_AUG
                           ) -> RootTarget:
        """:meth:`encode_root` for a :class:`PersonRecord` (the root of its own joint set)."""
        src = get_joint_set(record.joint_set)
        root_px = _np(record.joints_img)[src.root_idx, :2]
        return self.encode_root(img_bgr, record.bbox, root_px, float(record.root_vis),
                                record_root_depth_mm(record, src), bool(record.has_depth), record.focal, aug)

    # ------------------------------------------------------------------ decoding
    def patch_to_image_affines(self, bboxes_xywh, scale=1.0, rot_deg=0.0) -> np.ndarray:
        """Vectorised inverse crop affines: (..., 2, 3) mapping patch px → image px for processed boxes
        (..., 4) (px) and broadcastable ``scale``/``rot_deg``; the same matrices as
        ``invert_affine(crop_affine(...))`` (no flip)."""
        b = _np(bboxes_xywh)
        s = _np(scale)
        rad = np.deg2rad(_np(rot_deg))
        shape = np.broadcast_shapes(b.shape[:-1], s.shape, rad.shape)
        b = np.broadcast_to(b, shape + (4,))
        s, rad = np.broadcast_to(s, shape), np.broadcast_to(rad, shape)
        ih, iw = self.input_shape
        sx = b[..., 2] * s / iw  # image px per patch px
        sy = b[..., 3] * s / ih
        c, sn = np.cos(rad), np.sin(rad)
        out = np.empty(shape + (2, 3))
        out[..., 0, 0], out[..., 0, 1] = c * sx, -sn * sy
        out[..., 1, 0], out[..., 1, 1] = sn * sx, c * sy
        cx, cy = b[..., 0] + 0.5 * b[..., 2], b[..., 1] + 0.5 * b[..., 3]
        out[..., 0, 2] = cx - out[..., 0, 0] * iw / 2.0 - out[..., 0, 1] * ih / 2.0
        out[..., 1, 2] = cy - out[..., 1, 0] * iw / 2.0 - out[..., 1, 1] * ih / 2.0
        return out

    def hm_to_image_px(self, xy_hm, bboxes_xywh, scale=1.0, rot_deg=0.0, mode: str | None = None) -> np.ndarray:
        """Heatmap (x_hm, y_hm) ``(..., K, 2)`` → image px ``(..., K, 2)`` for boxes ``(..., 4)``.

        ``mode`` ``"affine"`` (exact inverse; honours ``scale``/``rot_deg``) or ``"reference"``
        (``x/W_out·w + x0``; refuses scale/rotation). Default: the codec's ``decode_mode``.
        """
        mode = mode or self.decode_mode
        xy = _np(xy_hm)[..., :2]
        b = _np(bboxes_xywh)
        if mode == "reference":
            if np.any(_np(scale) != 1.0) or np.any(_np(rot_deg) != 0.0):
                raise ValueError("hm_to_image_px: the 'reference' mapping is only valid without scale or "
                                 "rotation; use mode='affine'")
            oh, ow = self.output_shape
            u = xy[..., 0] / ow * b[..., None, 2] + b[..., None, 0]
            v = xy[..., 1] / oh * b[..., None, 3] + b[..., None, 1]
            return np.stack([u, v], axis=-1)
        if mode != "affine":
            raise ValueError(f"hm_to_image_px: unknown mode {mode!r}; choose one of {DECODE_MODES}")
        a = self.patch_to_image_affines(b, scale, rot_deg)  # (..., 2, 3)
        p = xy / self.hm_per_patch_px  # patch px
        return np.einsum("...ij,...kj->...ki", a[..., :, :2], p) + a[..., None, :, 2]

    def decode_pose(self, coord_hm, bboxes_xywh, z_root_mm, focal_px, princpt_px, scale=1.0, rot_deg=0.0,
                    mode: str | None = None) -> Decoded:
        """PoseNet output → image px and absolute camera mm.

        Args:
            coord_hm: (..., J, 3) ``[x_hm, y_hm, z_hm]`` (numpy or torch).
            bboxes_xywh: (..., 4) processed boxes the crops were cut from (px).
            z_root_mm: (...) absolute root depth (GT or RootNet's) in mm.
            focal_px, princpt_px: (..., 2) camera intrinsics (px).
            scale, rot_deg: (...) crop augmentation to invert (``mode="affine"`` only).
            mode: see :meth:`hm_to_image_px`.
        Returns :class:`Decoded` with ``joints_img`` (..., J, 3) ``[u_px, v_px, Z_mm]`` and
        ``joints_cam_mm`` (..., J, 3).
        """
        c = _np(coord_hm)
        uv = self.hm_to_image_px(c[..., :2], bboxes_xywh, scale, rot_deg, mode)
        z = self.depth_hm_to_mm(c[..., 2]) + _np(z_root_mm)[..., None]
        uvz = np.concatenate([uv, z[..., None]], axis=-1)
        cam = pixel2cam(uvz, _np(focal_px)[..., None, :], _np(princpt_px)[..., None, :])
        return Decoded(uvz, cam)

    def decode_root(self, root_out, bboxes_xywh, focal_px, princpt_px, scale=1.0, rot_deg=0.0,
                    mode: str | None = None) -> Decoded:
        """RootNet output (..., 3) ``[x_hm, y_hm, Z_root_mm]`` → :class:`Decoded` with ``joints_img`` (..., 3)
        ``[u_px, v_px, Z_mm]`` of the root and ``joints_cam_mm`` (..., 3) = root_cam (mm)."""
        r = _np(root_out)
        uv = self.hm_to_image_px(r[..., None, :2], bboxes_xywh, scale, rot_deg, mode)[..., 0, :]
        uvz = np.concatenate([uv, r[..., 2:3]], axis=-1)
        return Decoded(uvz, pixel2cam(uvz, _np(focal_px), _np(princpt_px)))
