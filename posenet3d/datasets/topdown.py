"""The top-down codec: person record ⇄ network input, targets and outputs, for PoseNet and RootNet.

One place for every coordinate convention of the 3DMPPE pipeline, so training and testing cannot disagree.

Frames and units:

* **image px** ``(u, v)``: the original image (pixel centres are integers), see :mod:`posenet3d.geometry`.
* **patch px**: the ``input_shape`` = (H_in, W_in) crop (256²). The processed box's centre lands on
  ``(W_in/2, H_in/2)``; its sides span the patch (times the scale augmentation).
* **heatmap units** ``(x_hm, y_hm)``: patch px · ``output/input`` (0..63 for 64² heatmaps);
  ``z_hm = ((Z − Z_root)/(bbox_3d_depth/2) + 1)/2 · depth_dim`` (0..64 over ±1000 mm around the root).
* **camera mm**: absolute camera frame (x right, y down, z forward).

Encoding (training and the test-time crop): the reference's crop of the crop box with the sample's
occlusion, flip, scale and rotation (:func:`posenet3d.crop.crop_patch`, byte-identical to the 3DMPPE
procedure) → BGR→RGB → colour scale → normalisation (:func:`posenet3d.preprocess.normalize_patch`). The crop
returns a :class:`~posenet3d.crop.CropRecord` (the exact image → patch affine and its inverse); targets are
mapped through it and travel with it.

Decoding (:meth:`TopDownCodec.decode_pose`, :meth:`TopDownCodec.decode_root`): heatmap units → image px
→ camera mm. Two mappings of (x_hm, y_hm) to image px:

* ``"affine"`` (default): ``x_hm·W_in/W_out`` then the record's inverse affine; it inverts scale, rotation
  and flip. Given crop boxes instead of records, the records are rebuilt by the same function the crop used,
  so the matrices are the very ones the warp used.
* ``"reference"``: the 3DMPPE test code's ``u = x_hm/W_out·bbox_w + bbox_x``, valid only without scale or
  rotation.

Without scale and rotation the two agree up to float32 rounding of the reference's affine (about 1e-5 px).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from posenet3d.crop import CropRecord, crop_patch, crop_records, crop_transform
from posenet3d.geometry import DEFAULT_AREA_REAL_MM, k_value, pixel2cam
from posenet3d.preprocess import normalize_patch
from posenet3d.skeletons import JointSet, get_joint_set, map_joints

from .augment import NO_AUG, AugParams, apply_color
from .base import PersonRecord

DECODE_MODES = ("affine", "reference")


class PoseTarget(NamedTuple):
    """One PoseNet training sample.

    ``img`` (3, H_in, W_in) float32 normalised input; ``joints_hm`` (J, 3) float32 ``[x_hm, y_hm, z_hm]``;
    ``vis`` (J,) float32 0/1; ``has_depth`` 1.0 for metric-depth datasets; ``crop`` the
    :class:`~posenet3d.crop.CropRecord` of the patch.
    """

    img: torch.Tensor
    joints_hm: np.ndarray
    vis: np.ndarray
    has_depth: float
    crop: CropRecord

    @property
    def affine(self) -> np.ndarray:
        """(2, 3) image px → patch px."""
        return self.crop.affine


class RootTarget(NamedTuple):
    """One RootNet training sample.

    ``img`` (3, H_in, W_in) float32; ``root`` (3,) float32 ``[x_hm, y_hm, Z_root_mm]`` (absolute depth);
    ``root_vis`` 0/1 (root annotated and inside the patch); ``k_value`` mm (:func:`posenet3d.geometry.k_value`
    of the crop box); ``has_depth``; ``crop`` the :class:`~posenet3d.crop.CropRecord` of the patch.
    """

    img: torch.Tensor
    root: np.ndarray
    root_vis: float
    k_value: float
    has_depth: float
    crop: CropRecord

    @property
    def affine(self) -> np.ndarray:
        """(2, 3) image px → patch px."""
        return self.crop.affine


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
    @property
    def patch_size(self) -> tuple[int, int]:
        """(W_in, H_in) of the patch (px), the order OpenCV takes sizes in."""
        return self.input_shape[1], self.input_shape[0]

    def image_to_patch_affine(self, bbox_xywh, aug: AugParams = NO_AUG, img_width: int | None = None
                              ) -> np.ndarray:
        """The (2, 3) affine from original-image px to patch px for a crop box and an augmentation: the
        record's ``affine`` of :func:`posenet3d.crop.crop_transform` (with ``aug.flip``, ``img_width`` px is
        required)."""
        return crop_transform(bbox_xywh, self.patch_size, aug.scale, aug.rot_deg, aug.flip, img_width)[1].affine

    def crop(self, img_bgr: np.ndarray, bbox_xywh, aug: AugParams = NO_AUG) -> tuple[np.ndarray, CropRecord]:
        """Cut the augmented patch: ``(patch_rgb (H_in, W_in, 3) float32 on 0..255, record)``.

        ``img_bgr`` is the full (H, W, 3) uint8 image as OpenCV reads it (never modified); the patch is the
        reference's (:func:`posenet3d.crop.crop_patch`), then BGR → RGB and the colour scale.
        """
        if img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
            raise ValueError(f"crop: expected an (H, W, 3) BGR image, got shape {img_bgr.shape}")
        patch, record = crop_patch(img_bgr, bbox_xywh, self.patch_size, aug.scale, aug.rot_deg, aug.flip,
                                   aug.occlusion, aug.noise_seed)
        patch_rgb = patch[:, :, ::-1]
        if aug.color_scale != (1.0, 1.0, 1.0):
            return apply_color(patch_rgb, aug.color_scale), record
        return patch_rgb.astype(np.float32), record

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
        patch, crop = self.crop(img_bgr, bbox_xywh, aug)
        if aug.flip:
            if flip_perm is None:
                raise ValueError("encode_pose: a flipped sample needs flip_perm")
            joints, vis = joints[flip_perm], vis[flip_perm]
        xy = crop.to_patch(joints[:, :2])  # the record's affine includes the mirror u → W − 1 − u
        z_rel = joints[:, 2] - z_root_mm if has_depth else np.zeros(len(joints))
        z01 = (z_rel / (self.bbox_3d_depth_mm / 2.0) + 1.0) / 2.0
        ih, iw = self.input_shape
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < iw) & (xy[:, 1] >= 0) & (xy[:, 1] < ih) & (z01 >= 0) & (z01 < 1)
        target = np.empty((len(joints), 3), dtype=np.float64)
        target[:, :2] = xy * self.hm_per_patch_px
        target[:, 2] = z01 * self.depth_dim
        vis_out = ((vis * inside) > 0).astype(np.float32)
        return PoseTarget(normalize_patch(patch), target.astype(np.float32), vis_out, float(bool(has_depth)), crop)

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
        patch, crop = self.crop(img_bgr, bbox_xywh, aug)
        xy = crop.to_patch(_np(root_px).reshape(1, 2)[:, :2])[0]
        ih, iw = self.input_shape
        inside = 0 <= xy[0] < iw and 0 <= xy[1] < ih
        xy_hm = xy * self.hm_per_patch_px
        root = np.array([xy_hm[0], xy_hm[1], z_root_mm if has_depth else 0.0], dtype=np.float32)
        k = float(k_value(_np(bbox_xywh).reshape(4), _np(focal_px).reshape(2), self.area_real_mm))
        return RootTarget(normalize_patch(patch), root, float(root_vis > 0 and inside), k,
                          float(bool(has_depth)), crop)

    def encode_root_record(self, img_bgr: np.ndarray, record: PersonRecord, aug: AugParams = NO_AUG
                           ) -> RootTarget:
        """:meth:`encode_root` for a :class:`PersonRecord` (the root of its own joint set)."""
        src = get_joint_set(record.joint_set)
        root_px = _np(record.joints_img)[src.root_idx, :2]
        return self.encode_root(img_bgr, record.bbox, root_px, float(record.root_vis),
                                record_root_depth_mm(record, src), bool(record.has_depth), record.focal, aug)

    # ------------------------------------------------------------------ decoding
    def crop_records(self, crops, scale=1.0, rot_deg=0.0) -> CropRecord:
        """The records to decode with: ``crops`` itself when it is a :class:`CropRecord` (what the crop
        returned), else crop boxes ``(..., 4)`` px rebuilt into the records :meth:`crop` made for them with
        broadcastable ``scale``/``rot_deg`` (no flip)."""
        if isinstance(crops, CropRecord):
            if np.any(_np(scale) != 1.0) or np.any(_np(rot_deg) != 0.0):
                raise ValueError("a CropRecord already holds its scale and rotation; pass neither")
            return crops
        return crop_records(_np(crops), self.patch_size, _np(scale), _np(rot_deg))

    def hm_to_image_px(self, xy_hm, crops, scale=1.0, rot_deg=0.0, mode: str | None = None) -> np.ndarray:
        """Heatmap (x_hm, y_hm) ``(..., K, 2)`` → image px ``(..., K, 2)``.

        ``crops``: the :class:`CropRecord` (batch ``...``) of the crops, or their crop boxes ``(..., 4)`` px
        (see :meth:`crop_records`). ``mode`` ``"affine"`` (the record's exact inverse) or ``"reference"``
        (``x/W_out·w + x0`` on the crop box; refuses scale/rotation). Default: the codec's ``decode_mode``.
        """
        mode = mode or self.decode_mode
        if mode not in DECODE_MODES:
            raise ValueError(f"hm_to_image_px: unknown mode {mode!r}; choose one of {DECODE_MODES}")
        xy = _np(xy_hm)[..., :2]
        if mode == "affine":
            return self.crop_records(crops, scale, rot_deg).to_image(xy / self.hm_per_patch_px)
        if np.any(_np(scale) != 1.0) or np.any(_np(rot_deg) != 0.0) or (
                isinstance(crops, CropRecord) and not self._plain(crops)):
            raise ValueError("hm_to_image_px: the 'reference' mapping is only valid without scale, rotation or "
                             "flip; use mode='affine'")
        b = crops.bbox if isinstance(crops, CropRecord) else _np(crops)
        oh, ow = self.output_shape
        u = xy[..., 0] / ow * b[..., None, 2] + b[..., None, 0]
        v = xy[..., 1] / oh * b[..., None, 3] + b[..., None, 1]
        return np.stack([u, v], axis=-1)

    def _plain(self, rec: CropRecord) -> bool:
        """The record is an unaugmented crop of its box (axis-aligned, box onto the patch)."""
        a, b = rec.affine, rec.bbox
        ih, iw = self.input_shape
        return bool(np.all(a[..., 0, 1] == 0) and np.all(a[..., 1, 0] == 0)
                    and np.allclose(a[..., 0, 0] * b[..., 2], iw, rtol=1e-5)
                    and np.allclose(a[..., 1, 1] * b[..., 3], ih, rtol=1e-5))

    def decode_pose(self, coord_hm, crops, z_root_mm, focal_px, princpt_px, scale=1.0, rot_deg=0.0,
                    mode: str | None = None) -> Decoded:
        """PoseNet output → image px and absolute camera mm.

        Args:
            coord_hm: (..., J, 3) ``[x_hm, y_hm, z_hm]`` (numpy or torch).
            crops: the crops' :class:`CropRecord` (batch ``...``), or the crop boxes (..., 4) px they were cut
                from (records rebuilt by :meth:`crop_records`).
            z_root_mm: (...) absolute root depth (GT or RootNet's) in mm.
            focal_px, princpt_px: (..., 2) camera intrinsics (px).
            scale, rot_deg: (...) crop augmentation to invert (``mode="affine"`` only).
            mode: see :meth:`hm_to_image_px`.
        Returns :class:`Decoded` with ``joints_img`` (..., J, 3) ``[u_px, v_px, Z_mm]`` and
        ``joints_cam_mm`` (..., J, 3).
        """
        c = _np(coord_hm)
        uv = self.hm_to_image_px(c[..., :2], crops, scale, rot_deg, mode)
        z = self.depth_hm_to_mm(c[..., 2]) + _np(z_root_mm)[..., None]
        uvz = np.concatenate([uv, z[..., None]], axis=-1)
        cam = pixel2cam(uvz, _np(focal_px)[..., None, :], _np(princpt_px)[..., None, :])
        return Decoded(uvz, cam)

    def decode_root(self, root_out, crops, focal_px, princpt_px, scale=1.0, rot_deg=0.0,
                    mode: str | None = None) -> Decoded:
        """RootNet output (..., 3) ``[x_hm, y_hm, Z_root_mm]`` → :class:`Decoded` with ``joints_img`` (..., 3)
        ``[u_px, v_px, Z_mm]`` of the root and ``joints_cam_mm`` (..., 3) = root_cam (mm); ``crops`` as in
        :meth:`decode_pose`."""
        r = _np(root_out)
        uv = self.hm_to_image_px(r[..., None, :2], crops, scale, rot_deg, mode)[..., 0, :]
        uvz = np.concatenate([uv, r[..., 2:3]], axis=-1)
        return Decoded(uvz, pixel2cam(uvz, _np(focal_px), _np(princpt_px)))
