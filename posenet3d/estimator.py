"""From an image to every person's absolute 3D skeleton in one call: CenterNet → RootNet → PoseNet.

:class:`Estimator` holds the three networks and runs, for one image (:meth:`Estimator.estimate`):

1. **detector** — the BGR image letterboxed onto the CenterNet input (``det_input_size``²; an image larger than
   ``max_detection_side`` is first area-downscaled to that side, so a huge image costs one pass and a small
   buffer) → person boxes ``[x, y, w, h]`` in image px with scores > ``det_score_thresh``, IoU-NMS at
   ``det_nms_iou``, at most ``max_people``.
2. **crops** — :func:`~posenet3d.geometry.process_bboxes` (clip, square, ×1.25) → one crop per person cut from the
   *full* image by the codec's warp (it reads only the region each crop needs; the image is never copied whole).
3. **RootNet** on all crops in **one batch** with each crop's ``k = sqrt(A_real·fx·fy / (w·h))`` of its
   processed box → ``[x_hm, y_hm, Z_root mm]``.
4. **PoseNet** on all crops in **one batch**; with ``flip_test`` the mirrored crops are concatenated into the
   same batch and merged with :func:`~posenet3d.posenet.model.flip_merge` → ``(N, J, 3)`` heatmap units.
5. **decode** — :meth:`~posenet3d.datasets.topdown.TopDownCodec.decode_pose` with RootNet's ``Z_root``:
   ``(x, y)`` back to image px, ``Z = Z_root + (z/D·2 − 1)·bbox_3d_depth/2`` mm, then back-projection with the
   intrinsics → absolute camera-frame joints; optional AlphaPose parametric pose NMS on the 2D joints.

Batches hold at most ``batch_size`` people (twice that with the flip test); all network calls run under
``torch.inference_mode()`` on ``device`` (the caller's choice; nothing is moved to CUDA unless asked).

**Frames and units.** Camera frame: x right, y down, z forward, **millimetres**. Image: u right, v down,
**pixels** of the input image (pixel centres at integers). Boxes ``[x_min, y_min, width, height]`` px.
Timings in milliseconds.

**Intrinsics.** Pass ``intrinsics`` (a 3×3 K or ``(fx, fy, cx, cy)`` px) or ``focal`` (``f`` or ``(fx, fy)`` px,
principal point at the image centre ``(W/2, H/2)``). Without either the reference's convention is used:
``f = 1500 px`` and the principal point at ``(W/2, H/2)``. RootNet's depth is ``γ·k`` with ``k ∝ sqrt(fx·fy)``
and γ depending only on the crop, so **absolute depth scales linearly with the focal length**: with the default
focal the depths (and hence the x, y positions) are in "f = 1500 px" units; give the real focal length for metric
positions — no retraining is needed. Root-relative poses do not depend on it.

**Bundles.** :meth:`Estimator.from_bundle` reads a folder holding ``estimator.yaml`` and the three weight files
(``centernet.pth``, ``rootnet.pth``, ``posenet.pth``: network state_dicts, possibly stored in float16, loaded
with :func:`~posenet3d.checkpoint.load_weights` and cast to the model's dtype). :func:`save_bundle` writes that
format atomically. ``estimator.yaml``::

    format: posenet3d-estimator-bundle
    version: 1
    detector: {weights: centernet.pth, model: {task: centernet, arch: res_18, input_size: 512, ...}}
    rootnet:  {weights: rootnet.pth,   model: {task: rootnet, backbone_depth: 18, ...}}
    posenet:  {weights: posenet.pth,   model: {task: posenet, joint_set: MuCo, ...}}
    options:  {det_score_thresh: 0.3, flip_test: true}   # optional Estimator keyword arguments

``model`` entries are :class:`~posenet3d.config.ModelConfig` fields; each part may carry ``sha256`` and
``bytes`` of its file, checked on load.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from torch import nn

from .checkpoint import (
    CheckpointError,
    compare_state_dicts,
    load_weights,
    save_snapshot,
)
from .config import Config, ConfigError, ModelConfig, config_from_dict
from .datasets.topdown import TopDownCodec
from .detection.checkpoint import load_centernet
from .detection.pipeline import detect_people
from .geometry import k_value, process_bboxes
from .media import MediaError, read_image, to_bgr
from .pose_nms import pose_nms as parametric_pose_nms
from .posenet.model import flip_merge
from .preprocess import normalize_input
from .skeletons import JointSet, get_joint_set
from .tasks import get_task

log = logging.getLogger(__name__)

#: The reference demo's focal length (px) used when no intrinsics are given.
DEFAULT_FOCAL_PX = 1500.0
#: Images smaller than this on either side (px) are refused: no person fits in them.
MIN_IMAGE_SIDE_PX = 8
BUNDLE_FILE = "estimator.yaml"
BUNDLE_FORMAT = "posenet3d-estimator-bundle"
BUNDLE_VERSION = 1
#: The parts of a bundle, their weight file names and the config task each must have.
BUNDLE_PARTS: dict[str, tuple[str, str]] = {"detector": ("centernet.pth", "centernet"),
                                            "rootnet": ("rootnet.pth", "rootnet"),
                                            "posenet": ("posenet.pth", "posenet")}
STAGES = ("read", "detector", "crop", "rootnet", "posenet", "decode", "total")


class EstimatorError(ValueError):
    """The estimator cannot be built or used as asked (bundle, configs, options); the message names the cause."""


# ----------------------------------------------------------------------------------------------- camera --

@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in px: focal lengths ``fx``, ``fy`` and principal point ``(cx, cy)``; ``source`` says
    where they came from (``"given"``, ``"focal given, principal point at the image centre"`` or the default)."""

    fx: float
    fy: float
    cx: float
    cy: float
    source: str = "given"

    @property
    def matrix(self) -> np.ndarray:
        """The 3×3 K (px)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def focal(self) -> np.ndarray:
        return np.array([self.fx, self.fy])

    @property
    def princpt(self) -> np.ndarray:
        return np.array([self.cx, self.cy])

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "K": self.matrix.tolist(), "source": self.source}


def _positive(values, what: str) -> list[float]:
    out = [float(v) for v in values]
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise EstimatorError(f"{what} must be finite and positive (px), got {out}")
    return out


def resolve_intrinsics(width: int, height: int, intrinsics=None, focal=None) -> Intrinsics:
    """The intrinsics used for an image of ``width`` × ``height`` px.

    ``intrinsics``: an :class:`Intrinsics`, a 3×3 K (no skew, last row ``0 0 1``) or ``(fx, fy, cx, cy)`` px.
    ``focal``: ``f`` or ``(fx, fy)`` px with the principal point at ``(W/2, H/2)``. Neither: ``f`` =
    :data:`DEFAULT_FOCAL_PX` at ``(W/2, H/2)`` (the reference demo's convention; depth then scales with the
    true focal length, see the module docstring). Giving both is an error.
    """
    if intrinsics is not None and focal is not None:
        raise EstimatorError("give either intrinsics or focal, not both")
    centre = (width / 2.0, height / 2.0)
    if isinstance(intrinsics, Intrinsics):
        return intrinsics
    if intrinsics is not None:
        k = np.asarray(intrinsics, dtype=np.float64)
        if k.shape == (3, 3):
            if not np.all(np.isfinite(k)) or k[0, 1] != 0 or k[1, 0] != 0 or not np.allclose(k[2], [0, 0, 1]):
                raise EstimatorError(f"intrinsics: expected a 3x3 K [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] "
                                     f"(no skew), got {k.tolist()}")
            fx, fy = _positive((k[0, 0], k[1, 1]), "intrinsics focal lengths")
            return Intrinsics(fx, fy, float(k[0, 2]), float(k[1, 2]), "given")
        if k.shape == (4,):
            fx, fy = _positive(k[:2], "intrinsics focal lengths")
            if not np.all(np.isfinite(k[2:])):
                raise EstimatorError(f"intrinsics: the principal point must be finite, got {k[2:].tolist()}")
            return Intrinsics(fx, fy, float(k[2]), float(k[3]), "given")
        raise EstimatorError(f"intrinsics: expected a 3x3 matrix or (fx, fy, cx, cy), got shape {k.shape}")
    if focal is not None:
        f = np.asarray(focal, dtype=np.float64).reshape(-1)
        if f.shape not in ((1,), (2,)):
            raise EstimatorError(f"focal: expected f or (fx, fy) in px, got {f.tolist()}")
        fx, fy = _positive((f[0], f[-1]), "focal")
        return Intrinsics(fx, fy, *centre, "focal given, principal point at the image centre (W/2, H/2)")
    return Intrinsics(DEFAULT_FOCAL_PX, DEFAULT_FOCAL_PX, *centre,
                      f"default: f = {DEFAULT_FOCAL_PX:g} px, principal point at the image centre (W/2, H/2); "
                      "absolute depth scales linearly with the true focal length")


# ---------------------------------------------------------------------------------------------- results --

def _plain(a, digits: int = 3):
    """A numpy array/number as JSON-ready nested lists of rounded floats (non-finite → None)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return round(v, digits) if np.isfinite(v) else None
    return [_plain(x, digits) for x in arr]


@dataclass
class Person:
    """One person: ``bbox`` (4,) detector box ``[x, y, w, h]`` px, ``score`` (detector, 0..1), ``root_cam_mm``
    (3,) RootNet's root in the camera frame (mm), ``joints_cam_mm`` (J, 3) absolute camera-frame joints (mm),
    ``joints_2d_px`` (J, 2) image px, ``crop_box`` (4,) the processed (square, ×1.25) box the crops came from."""

    bbox: np.ndarray
    score: float
    root_cam_mm: np.ndarray
    joints_cam_mm: np.ndarray
    joints_2d_px: np.ndarray
    crop_box: np.ndarray

    def to_dict(self) -> dict:
        return {"bbox": _plain(self.bbox, 2), "score": round(float(self.score), 4),
                "root_cam_mm": _plain(self.root_cam_mm), "joints_cam_mm": _plain(self.joints_cam_mm),
                "joints_2d_px": _plain(self.joints_2d_px)}


UNITS = {
    "bbox": "px, [x_min, y_min, width, height] in the input image",
    "score": "detector confidence, 0..1",
    "root_cam_mm": "mm, camera frame (x right, y down, z forward); RootNet's root joint",
    "joints_cam_mm": "mm, camera frame (x right, y down, z forward), absolute; J x 3 in joint_names order",
    "joints_2d_px": "px, input image (u right, v down); J x 2 in joint_names order",
    "intrinsics": "px",
    "image_size": "px",
    "timings_ms": "milliseconds",
}


@dataclass
class EstimateResult:
    """The people found in one image, with everything needed to read them.

    Behaves as the list of :class:`Person` (``len``, iteration, indexing). ``joint_names`` and ``skeleton``
    (bones as joint-index pairs) give the joint order; ``intrinsics`` are those actually used; ``image_size`` is
    (W, H) px; ``timings_ms`` per stage (:data:`STAGES`).
    """

    people: list[Person]
    joint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    intrinsics: Intrinsics
    image_size: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.people)

    def __iter__(self):
        return iter(self.people)

    def __getitem__(self, index):
        return self.people[index]

    def to_dict(self) -> dict:
        """JSON-ready: ``units``, ``image_size``, ``intrinsics``, ``people``, ``joint_names``, ``skeleton``,
        ``timings_ms``."""
        return {"units": dict(UNITS), "image_size": {"width": int(self.image_size[0]),
                                                     "height": int(self.image_size[1])},
                "intrinsics": self.intrinsics.to_dict(), "people": [p.to_dict() for p in self.people],
                "joint_names": list(self.joint_names), "skeleton": [list(b) for b in self.skeleton],
                "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()}}


# -------------------------------------------------------------------------------------------- estimator --

def build_network(model_cfg: ModelConfig) -> nn.Module:
    """The network a :class:`ModelConfig` describes (``task`` posenet / rootnet / centernet), randomly
    initialised (no ImageNet download), through the task table."""
    return get_task(model_cfg.task).build_model(Config(model=model_cfg), for_training=False)


class Estimator:
    """Absolute 3D poses of every person in an image (see the module docstring for the stages and units).

    Args:
        detector: a CenterNet person detector (:class:`~posenet3d.detection.model.CenterNet`, class 0 = person).
        rootnet: a :class:`~rootnet.RootNet`.
        posenet: a :class:`~posenet3d.posenet.model.PoseNet`.
        pose_cfg, root_cfg: their model configs (input size, depth bins and range, ``area_real_mm``).
        det_input_size: detector input side (px, multiple of 32; the published models use 512).
        det_score_thresh: minimum detector score of a person (the reference demo draws > 0.3).
        det_nms_iou: IoU-NMS of the detector boxes (None: off, as in the reference).
        det_flip_test: average the detector over the mirrored image.
        joint_set: PoseNet's joint set name (default ``pose_cfg.joint_set``).
        device: where the networks run (``"cpu"``, ``"cuda:0"``, a :class:`torch.device`).
        flip_test: PoseNet flip test (mirrored crops in the same batch).
        pose_nms: AlphaPose parametric pose NMS on the 2D joints (drops duplicate detections).
        max_detection_side: images with a larger side (px) are area-downscaled to it before detection
            (None: never).
        max_people: keep at most this many detections (highest scores first; None: all).
        batch_size: people per network call (PoseNet sees twice as many crops with the flip test).
        channels_last: run the networks in channels-last memory format.
    """

    def __init__(self, detector: nn.Module, rootnet: nn.Module, posenet: nn.Module, *, pose_cfg: ModelConfig,
                 root_cfg: ModelConfig, det_input_size: int = 512, det_score_thresh: float = 0.3,
                 det_nms_iou: float | None = 0.7, det_flip_test: bool = False, joint_set: str | None = None,
                 device: str | torch.device = "cpu", flip_test: bool = True, pose_nms: bool = False,
                 max_detection_side: int | None = 1024, max_people: int | None = None, batch_size: int = 16,
                 channels_last: bool = False) -> None:
        if int(det_input_size) != det_input_size or det_input_size < 32 or det_input_size % 32:
            raise EstimatorError(f"det_input_size must be a positive multiple of 32 px, got {det_input_size}")
        if not 0.0 <= float(det_score_thresh) < 1.0:
            raise EstimatorError(f"det_score_thresh must be in [0, 1), got {det_score_thresh}")
        if det_nms_iou is not None and not 0.0 < float(det_nms_iou) <= 1.0:
            raise EstimatorError(f"det_nms_iou must be in (0, 1] or None, got {det_nms_iou}")
        if max_detection_side is not None and int(max_detection_side) < 32:
            raise EstimatorError(f"max_detection_side must be >= 32 px or None, got {max_detection_side}")
        if max_people is not None and int(max_people) < 1:
            raise EstimatorError(f"max_people must be >= 1 or None, got {max_people}")
        if int(batch_size) < 1:
            raise EstimatorError(f"batch_size must be >= 1, got {batch_size}")
        self.joint_set: JointSet = get_joint_set(joint_set or pose_cfg.joint_set)
        n_joints = getattr(posenet, "joint_num", self.joint_set.joint_num)
        if n_joints != self.joint_set.joint_num:
            raise EstimatorError(f"PoseNet predicts {n_joints} joints but the joint set {self.joint_set.name} has "
                                 f"{self.joint_set.joint_num}")
        self.pose_codec = TopDownCodec.from_config(pose_cfg)
        self.root_codec = TopDownCodec.from_config(root_cfg)
        self.pose_cfg, self.root_cfg = pose_cfg, root_cfg
        self.det_input_size = int(det_input_size)
        self.det_score_thresh = float(det_score_thresh)
        self.det_nms_iou = None if det_nms_iou is None else float(det_nms_iou)
        self.det_flip_test = bool(det_flip_test)
        self.flip_test, self.pose_nms = bool(flip_test), bool(pose_nms)
        self.max_detection_side = None if max_detection_side is None else int(max_detection_side)
        self.max_people = None if max_people is None else int(max_people)
        self.batch_size, self.channels_last = int(batch_size), bool(channels_last)
        self.device = torch.device(device)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.detector = detector.to(self.device, memory_format=fmt).eval()
        self.rootnet = rootnet.to(self.device, memory_format=fmt).eval()
        self.posenet = posenet.to(self.device, memory_format=fmt).eval()

    # ---------------------------------------------------------------------------------- constructors
    @classmethod
    def from_bundle(cls, folder: str | os.PathLike, *, device: str | torch.device = "cpu",
                    **options) -> Estimator:
        """Load a bundle folder (``estimator.yaml`` + weights, module docstring). ``options`` override the
        bundle's ``options``. Raises :class:`EstimatorError` / :class:`~posenet3d.checkpoint.CheckpointError`
        naming the file."""
        spec = read_bundle(folder)
        nets = {}
        for part, cfg in spec.cfgs.items():
            nets[part] = build_network(cfg)
            load_weights(nets[part], spec.paths[part])
            bad = [k for k, v in nets[part].state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
            if bad:
                raise EstimatorError(f"{spec.paths[part]}: {len(bad)} tensors hold inf/NaN (first: {bad[0]}); "
                                     "re-create the bundle with posenet3d bundle make")
        opts = {**spec.options, **options}
        opts.setdefault("det_input_size", spec.cfgs["detector"].input_size)
        _check_options(opts, str(spec.folder / BUNDLE_FILE))
        log.info("loaded estimator bundle %s (%s)", spec.folder, ", ".join(
            f"{p}: {spec.paths[p].name}" for p in BUNDLE_PARTS))
        return cls(nets["detector"], nets["rootnet"], nets["posenet"], pose_cfg=spec.cfgs["posenet"],
                   root_cfg=spec.cfgs["rootnet"], device=device, **opts)

    @classmethod
    def from_files(cls, detector: str | os.PathLike, rootnet: str | os.PathLike, posenet: str | os.PathLike, *,
                   detector_arch: str = "resdcn_18", det_cfg: ModelConfig | None = None,
                   pose_cfg: ModelConfig | None = None, root_cfg: ModelConfig | None = None,
                   device: str | torch.device = "cpu", **options) -> Estimator:
        """Build from three weight files.

        ``detector``: a published CenterNet ctdet COCO checkpoint of ``detector_arch`` (person channel kept,
        :func:`~posenet3d.detection.checkpoint.load_centernet`), or, with ``det_cfg`` (a centernet
        :class:`ModelConfig`), any state_dict file of that network. ``rootnet``/``posenet``: snapshots or
        state_dicts; without ``root_cfg``/``pose_cfg`` they are the published 3DMPPE models (ResNet-50, 21 MuCo
        joints, 256² input, 64 depth bins). ``options``: :class:`Estimator` keyword arguments.
        """
        pose_cfg = pose_cfg or ModelConfig(task="posenet")
        root_cfg = root_cfg or ModelConfig(task="rootnet")
        if det_cfg is not None:
            det = build_network(det_cfg)
            load_weights(det, detector)
            options.setdefault("det_input_size", det_cfg.input_size)
        else:
            det = load_centernet(detector, detector_arch, task="ctdet")
        root, pose = build_network(root_cfg), build_network(pose_cfg)
        load_weights(root, rootnet)
        load_weights(pose, posenet)
        _check_options(options, "from_files")
        return cls(det, root, pose, pose_cfg=pose_cfg, root_cfg=root_cfg, device=device, **options)

    # ------------------------------------------------------------------------------------ accessors
    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.joint_set.joints_name

    @property
    def skeleton(self) -> tuple[tuple[int, int], ...]:
        return self.joint_set.skeleton

    # ---------------------------------------------------------------------------------------- stages
    def _image(self, image, timings: dict[str, float]) -> np.ndarray:
        t = time.perf_counter()
        if isinstance(image, (str, os.PathLike)):
            img = read_image(image)
            name = str(image)
        else:
            img = to_bgr(image, "image")
            name = "image"
        h, w = img.shape[:2]
        if h < MIN_IMAGE_SIDE_PX or w < MIN_IMAGE_SIDE_PX:
            raise MediaError(f"{name}: the image is {w}x{h} px, too small; the estimator needs at least "
                             f"{MIN_IMAGE_SIDE_PX}x{MIN_IMAGE_SIDE_PX} px")
        timings["read"] = (time.perf_counter() - t) * 1000.0
        return img

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(N, 4)`` ``[x, y, w, h]`` px of the full image and their scores ``(N,)``, best first."""
        h, w = image_bgr.shape[:2]
        small, sx, sy = image_bgr, 1.0, 1.0
        if self.max_detection_side is not None and max(h, w) > self.max_detection_side:
            r = self.max_detection_side / max(h, w)
            size = (max(1, round(w * r)), max(1, round(h * r)))
            small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
            sx, sy = w / size[0], h / size[1]
        with torch.inference_mode():
            det = detect_people(self.detector, small, input_size=self.det_input_size,
                                score_thresh=self.det_score_thresh, flip_test=self.det_flip_test,
                                nms_iou=self.det_nms_iou)[0]
        xyxy = det.boxes_xyxy.astype(np.float64)
        if sx != 1.0 or sy != 1.0:  # pixel centres: u_full = (u_small + 0.5)·s − 0.5
            xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] + 0.5) * sx - 0.5
            xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] + 0.5) * sy - 0.5
        boxes = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        scores = det.scores.astype(np.float64)
        if self.max_people is not None:
            boxes, scores = boxes[:self.max_people], scores[:self.max_people]
        return boxes, scores

    def crop_batch(self, image_bgr: np.ndarray, crop_boxes: np.ndarray, codec: TopDownCodec) -> torch.Tensor:
        """Normalised network inputs ``(N, 3, H_in, W_in)`` (CPU, float32) for processed boxes ``(N, 4)`` px."""
        ih, iw = codec.input_shape
        patches = np.empty((len(crop_boxes), ih, iw, 3), dtype=np.float32)
        for i, box in enumerate(crop_boxes):
            patches[i] = codec.crop(image_bgr, box)[0]
        x = normalize_input(torch.from_numpy(patches).permute(0, 3, 1, 2))  # keeps the NHWC (channels-last) layout
        return x if self.channels_last else x.contiguous()

    def _chunks(self, n: int, size: int):
        return [slice(i, min(n, i + size)) for i in range(0, n, size)]

    def run_rootnet(self, x: torch.Tensor, k_mm: np.ndarray, per_crop: bool = False) -> np.ndarray:
        """RootNet on crops ``(N, 3, H, W)`` with their k (mm) → ``(N, 3)`` ``[x_hm, y_hm, Z_root mm]``.
        ``per_crop`` runs one crop per call (the reference demo's way; for comparison)."""
        k = torch.as_tensor(np.asarray(k_mm, dtype=np.float32).reshape(-1, 1))
        outs = []
        with torch.inference_mode():
            for sl in self._chunks(len(x), 1 if per_crop else self.batch_size):
                outs.append(self.rootnet(x[sl].to(self.device), k[sl].to(self.device)).float().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0, 3), dtype=np.float32)

    def run_posenet(self, x: torch.Tensor, per_crop: bool = False) -> np.ndarray:
        """PoseNet on crops ``(N, 3, H, W)`` → ``(N, J, 3)`` heatmap units. With ``flip_test`` each batch holds the
        crops followed by their mirrors, merged by :func:`flip_merge`. ``per_crop`` runs every crop and every
        mirror in its own call (the reference's way; for comparison)."""
        width_hm = self.pose_codec.output_shape[1]
        pairs = self.joint_set.flip_pairs
        outs = []
        with torch.inference_mode():
            for sl in self._chunks(len(x), 1 if per_crop else self.batch_size):
                xb = x[sl].to(self.device)
                if not self.flip_test:
                    outs.append(self.posenet(xb).float().cpu())
                    continue
                mirrored = xb.flip(3)
                if per_crop:
                    a, b = self.posenet(xb), self.posenet(mirrored)
                else:
                    out = self.posenet(torch.cat([xb, mirrored]))
                    a, b = out[:len(xb)], out[len(xb):]
                outs.append(flip_merge(a.float(), b.float(), pairs, width_hm).cpu())
        j = self.joint_set.joint_num
        return torch.cat(outs).numpy() if outs else np.zeros((0, j, 3), dtype=np.float32)

    # ---------------------------------------------------------------------------------------- public
    def estimate(self, image: np.ndarray | str | os.PathLike, intrinsics=None, focal=None) -> EstimateResult:
        """Every person's absolute 3D pose in ``image`` (a path, or an 8-bit grey, BGR or BGRA array).

        ``intrinsics`` (3×3 K or ``(fx, fy, cx, cy)`` px) or ``focal`` (``f`` or ``(fx, fy)`` px); default f =
        1500 px at the image centre (depth ∝ focal length; module docstring). Returns an :class:`EstimateResult`
        (empty when nobody is found). Raises :class:`~posenet3d.media.MediaError` for an unusable image.
        """
        t0 = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        img = self._image(image, timings)
        intr = resolve_intrinsics(img.shape[1], img.shape[0], intrinsics, focal)
        t = time.perf_counter()
        boxes, scores = self.detect(img)
        timings["detector"] = (time.perf_counter() - t) * 1000.0
        return self._estimate(img, boxes, scores, intr, timings, t0, per_crop=False)

    def estimate_from_boxes(self, image: np.ndarray | str | os.PathLike, boxes_xywh, scores=None,
                            intrinsics=None, focal=None, *, per_crop: bool = False) -> EstimateResult:
        """As :meth:`estimate` but with given person boxes ``(N, 4)`` ``[x, y, w, h]`` px (and scores, default
        1) instead of the detector. ``per_crop`` runs RootNet and PoseNet one crop per call (reference-style;
        the results equal the batched ones up to float rounding)."""
        t0 = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        img = self._image(image, timings)
        intr = resolve_intrinsics(img.shape[1], img.shape[0], intrinsics, focal)
        boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
        scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes):
            raise EstimatorError(f"{len(scores)} scores for {len(boxes)} boxes")
        if not np.all(np.isfinite(boxes)):
            raise EstimatorError("boxes_xywh contains non-finite values")
        return self._estimate(img, boxes, scores, intr, timings, t0, per_crop=per_crop)

    def _empty(self, intr: Intrinsics, img: np.ndarray, timings: dict[str, float], t0: float) -> EstimateResult:
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return EstimateResult([], self.joint_names, self.skeleton, intr, (img.shape[1], img.shape[0]), timings)

    def _estimate(self, img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, intr: Intrinsics,
                  timings: dict[str, float], t0: float, per_crop: bool) -> EstimateResult:
        h, w = img.shape[:2]
        ih, iw = self.pose_codec.input_shape
        crop_boxes, valid = process_bboxes(boxes, w, h, aspect_ratio=iw / ih)
        valid &= (crop_boxes[:, 2] > 0) & (crop_boxes[:, 3] > 0)
        boxes, scores, crop_boxes = boxes[valid], scores[valid], crop_boxes[valid]
        if len(boxes) == 0:
            return self._empty(intr, img, timings, t0)

        t = time.perf_counter()
        x_pose = self.crop_batch(img, crop_boxes, self.pose_codec)
        same = self.root_codec.input_shape == self.pose_codec.input_shape
        x_root = x_pose if same else self.crop_batch(img, crop_boxes, self.root_codec)
        k = k_value(crop_boxes, intr.focal, self.root_codec.area_real_mm)
        timings["crop"] = (time.perf_counter() - t) * 1000.0

        t = time.perf_counter()
        root_out = self.run_rootnet(x_root, k, per_crop)
        timings["rootnet"] = (time.perf_counter() - t) * 1000.0
        t = time.perf_counter()
        coord_hm = self.run_posenet(x_pose, per_crop)
        timings["posenet"] = (time.perf_counter() - t) * 1000.0

        t = time.perf_counter()
        root = self.root_codec.decode_root(root_out, crop_boxes, intr.focal, intr.princpt)
        pose = self.pose_codec.decode_pose(coord_hm, crop_boxes, root_out[:, 2], intr.focal, intr.princpt)
        order = np.arange(len(boxes))
        if self.pose_nms and len(boxes) > 1:
            kept = parametric_pose_nms(boxes, scores, pose.joints_img[:, :, :2]).keep
            order = kept[np.argsort(-scores[kept], kind="stable")]
        people = [Person(bbox=boxes[i].copy(), score=float(scores[i]), root_cam_mm=root.joints_cam_mm[i].copy(),
                         joints_cam_mm=pose.joints_cam_mm[i].copy(), joints_2d_px=pose.joints_img[i, :, :2].copy(),
                         crop_box=crop_boxes[i].copy()) for i in order]
        timings["decode"] = (time.perf_counter() - t) * 1000.0
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return EstimateResult(people, self.joint_names, self.skeleton, intr, (w, h), timings)


_OPTION_NAMES = tuple(name for name, p in inspect.signature(Estimator.__init__).parameters.items()
                      if p.kind == p.KEYWORD_ONLY and name not in ("pose_cfg", "root_cfg", "device"))


def _check_options(options: Mapping, source: str) -> None:
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise EstimatorError(f"{source}: unknown estimator option(s) {unknown}; known: {list(_OPTION_NAMES)}")


# ---------------------------------------------------------------------------------------------- bundles --

@dataclass
class BundleSpec:
    """A parsed ``estimator.yaml``: ``folder``, per part its :class:`ModelConfig` (``cfgs``) and weight file
    (``paths``), and the estimator ``options``."""

    folder: Path
    cfgs: dict[str, ModelConfig]
    paths: dict[str, Path]
    options: dict


@dataclass
class BundleInfo:
    """What :func:`save_bundle` wrote: ``folder``, bytes per file and ``total_bytes``."""

    folder: Path
    files: dict[str, int]
    total_bytes: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_bundle(folder: str | os.PathLike) -> BundleSpec:
    """Parse and check ``<folder>/estimator.yaml`` (format, parts, configs, files, sizes and hashes when
    recorded). Raises :class:`EstimatorError` naming the file and the field."""
    folder = Path(folder)
    yaml_path = folder / BUNDLE_FILE
    if not yaml_path.is_file():
        raise EstimatorError(f"{yaml_path} does not exist: {folder} is not an estimator bundle (it needs "
                             f"{BUNDLE_FILE} and {', '.join(f for f, _ in BUNDLE_PARTS.values())})")
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EstimatorError(f"{yaml_path}: cannot be read as YAML ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise EstimatorError(f"{yaml_path}: expected a mapping at the top level, got {type(data).__name__}")
    if data.get("format", BUNDLE_FORMAT) != BUNDLE_FORMAT:
        raise EstimatorError(f"{yaml_path}: format is {data.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    if int(data.get("version", BUNDLE_VERSION)) > BUNDLE_VERSION:
        raise EstimatorError(f"{yaml_path}: bundle version {data.get('version')} is newer than this code "
                             f"understands ({BUNDLE_VERSION})")
    cfgs, paths = {}, {}
    for part, (default_file, task) in BUNDLE_PARTS.items():
        entry = data.get(part)
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), dict):
            raise EstimatorError(f"{yaml_path}: '{part}' must be a mapping with 'weights' and 'model'")
        try:
            cfg = config_from_dict({"model": entry["model"]}, f"{yaml_path} ({part})").model
        except ConfigError as exc:
            raise EstimatorError(str(exc)) from None
        if cfg.task != task:
            raise EstimatorError(f"{yaml_path}: '{part}.model.task' is {cfg.task!r}, expected {task!r}")
        path = folder / str(entry.get("weights", default_file))
        if not path.is_file():
            raise EstimatorError(f"{yaml_path}: the {part} weights {path} do not exist")
        size = path.stat().st_size
        if "bytes" in entry and int(entry["bytes"]) != size:
            raise EstimatorError(f"{path}: {size} bytes, but {BUNDLE_FILE} records {entry['bytes']} (truncated or "
                                 f"replaced file)")
        if "sha256" in entry and _sha256(path) != str(entry["sha256"]):
            raise EstimatorError(f"{path}: the SHA-256 differs from the one recorded in {BUNDLE_FILE} (corrupt or "
                                 f"replaced file)")
        cfgs[part], paths[part] = cfg, path
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise EstimatorError(f"{yaml_path}: 'options' must be a mapping, got {type(options).__name__}")
    _check_options(options, str(yaml_path))
    return BundleSpec(folder, cfgs, paths, dict(options))


def _model_cfg(cfg, part: str) -> ModelConfig:
    if isinstance(cfg, Config):
        cfg = cfg.model
    if not isinstance(cfg, ModelConfig):
        raise EstimatorError(f"save_bundle: the {part} config must be a Config or ModelConfig, got "
                             f"{type(cfg).__name__}")
    return cfg


def _narrowed(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor`` stored as ``dtype`` when its values fit that type's range, else unchanged. (Networks fed the
    reference's 0–255 input scale have first-layer BatchNorm variances in the millions, beyond float16's 65504.)"""
    if not tensor.is_floating_point() or tensor.dtype == dtype:
        return tensor
    if tensor.numel() and float(tensor.abs().max()) >= torch.finfo(dtype).max:
        return tensor
    return tensor.to(dtype)


def save_bundle(folder: str | os.PathLike, cfgs: Mapping[str, ModelConfig | Config],
                models: Mapping[str, nn.Module], dtype: torch.dtype | None = torch.float16,
                options: Mapping | None = None) -> BundleInfo:
    """Write an estimator bundle (module docstring) to ``folder`` atomically and return its sizes.

    ``cfgs`` and ``models`` map ``detector``/``rootnet``/``posenet`` to each network's config and module; every
    state_dict is checked against a network built from its config before anything is written. Floating-point
    tensors are stored as ``dtype`` (None: as they are) except those whose values exceed that type's range, which
    keep their own; the file sizes and SHA-256 go into ``estimator.yaml``.
    ``options`` are :class:`Estimator` keyword arguments stored with the bundle.

    The bundle is assembled in a temporary folder beside ``folder`` and swapped in by renames; files of an
    existing ``folder`` that are not part of a bundle (e.g. a README) are carried over.
    """
    folder = Path(folder)
    missing = [p for p in BUNDLE_PARTS if p not in cfgs or p not in models]
    extra = sorted((set(cfgs) | set(models)) - set(BUNDLE_PARTS))
    if missing or extra:
        raise EstimatorError(f"save_bundle: needs exactly the parts {list(BUNDLE_PARTS)} in cfgs and models "
                             f"(missing {missing}, unknown {extra})")
    options = dict(options or {})
    _check_options(options, "save_bundle options")
    states, mcfgs = {}, {}
    for part, (_, task) in BUNDLE_PARTS.items():
        mc = _model_cfg(cfgs[part], part)
        if mc.task != task:
            raise EstimatorError(f"save_bundle: the {part} config has task {mc.task!r}, expected {task!r}")
        model = models[part]
        model = model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
        model = getattr(model, "_orig_mod", model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        problems = compare_state_dicts(build_network(mc).state_dict(), state)
        if problems:
            raise CheckpointError(f"save_bundle: the {part} network does not fit its config: " + "; ".join(problems))
        if dtype is not None:
            state = {k: _narrowed(v, dtype) for k, v in state.items()}
        states[part], mcfgs[part] = state, mc

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        os.chmod(tmp, (folder.stat().st_mode & 0o7777) if folder.is_dir() else 0o755)  # mkdtemp makes it 0700
        doc: dict = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
                     "dtype": str(dtype).replace("torch.", "") if dtype is not None else "as saved"}
        files = {}
        for part, (fname, _) in BUNDLE_PARTS.items():
            path = save_snapshot(tmp / fname, states[part])
            os.chmod(path, 0o644)  # save_snapshot's temp file is private (0600); a bundle is meant to be shared
            files[fname] = path.stat().st_size
            model_dict = {k: list(v) if isinstance(v, tuple) else v
                          for k, v in dataclasses.asdict(mcfgs[part]).items()}
            doc[part] = {"weights": fname, "bytes": files[fname], "sha256": _sha256(path), "model": model_dict}
        if options:
            doc["options"] = options
        yaml_tmp = tmp / BUNDLE_FILE
        with open(yaml_tmp, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        files[BUNDLE_FILE] = yaml_tmp.stat().st_size
        own = {BUNDLE_FILE} | {f for f, _ in BUNDLE_PARTS.values()}
        if folder.exists():
            for p in folder.iterdir():
                if p.name not in own:
                    (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp / p.name)
            backup = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.time_ns()}")
            os.replace(folder, backup)
            os.replace(tmp, folder)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(files.values())
    log.info("wrote estimator bundle %s: %s, total %.1f MB", folder,
             ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in files.items()), total / 1e6)
    return BundleInfo(folder, files, total)


__all__ = [
    "DEFAULT_FOCAL_PX",
    "BundleInfo",
    "BundleSpec",
    "EstimateResult",
    "Estimator",
    "EstimatorError",
    "Intrinsics",
    "Person",
    "build_network",
    "read_bundle",
    "resolve_intrinsics",
    "save_bundle",
]
