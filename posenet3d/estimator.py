"""From an image to every person's absolute 3D skeleton in one call: CenterNet → RootNet → PoseNet.

:class:`Estimator` holds the three networks and runs, for one image (:meth:`Estimator.estimate`):

1. **detector** — the BGR image letterboxed onto the CenterNet input (``det_input_size``², or with
   ``det_keep_aspect`` a canvas of the image's shape with that long side; an image larger than
   ``max_detection_side`` is first area-downscaled to that side, so a huge image costs one pass and a small
   buffer) → person boxes ``[x, y, w, h]`` in image px with scores > ``det_score_thresh``, IoU-NMS at
   ``det_nms_iou``, at most ``max_people``.
2. **crops** — :func:`~posenet3d.crop.crop_boxes` (clip, square, ×1.25) → one crop per person by
   :func:`~posenet3d.crop.crop_patch` (the reference's warp of the *full* image, never copied), each with its
   :class:`~posenet3d.crop.CropRecord`.
3. **RootNet** on all crops in **one batch** with each crop's ``k = sqrt(A_real·fx·fy / (w·h))`` of its
   crop box → ``[x_hm, y_hm, Z_root mm]``.
4. **PoseNet** on all crops in **one batch**; with ``flip_test`` the mirrored crops are concatenated into the
   same batch and merged with :func:`~posenet3d.posenet.model.flip_merge` → ``(N, J, 3)`` heatmap units.
5. **decode** — :meth:`~posenet3d.datasets.topdown.TopDownCodec.decode_pose` through the crop records with
   RootNet's ``Z_root``: ``(x, y)`` back to image px, ``Z = Z_root + (z/D·2 − 1)·bbox_3d_depth/2`` mm, then
   back-projection with the intrinsics → absolute camera-frame joints; optional AlphaPose parametric pose NMS
   on the 2D joints.

Batches hold at most ``batch_size`` people (twice that with the flip test); all network calls run under
``torch.inference_mode()`` on ``device`` (the caller's choice; nothing is moved to CUDA unless asked).

Frames and units: :mod:`posenet3d.results`. Intrinsics (default f = 1500 px; depth scales with the focal
length): :mod:`posenet3d.camera`. Bundles (``estimator.yaml`` + three weight files): :mod:`posenet3d.bundle`.
This module and those import no training or evaluation code; their public names are re-exported here.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
from torch import nn

from .bundle import (
    BUNDLE_FILE,
    BUNDLE_PARTS,
    MODEL_DOMAINS,
    BundleInfo,
    BundleSpec,
    build_network,
    check_options,
    model_identity,
    read_bundle,
    save_bundle,
    sha256_file,
)
from .camera import DEFAULT_FOCAL_PX, EstimatorError, Intrinsics, resolve_intrinsics
from .checkpoint import load_weights
from .config import ModelConfig
from .crop import CropRecord, crop_boxes, crop_patch, stack_records
from .datasets.topdown import TopDownCodec
from .detection.checkpoint import load_centernet
from .detection.pipeline import detect_people
from .detection.torchvision_detectors import (
    TorchvisionPersonDetector,
    build_torchvision_detector,
    is_torchvision_name,
)
from .geometry import k_value
from .media import read_image, to_bgr
from .pose_nms import pose_nms as parametric_pose_nms
from .posenet.model import predict
from .preprocess import normalize_patch
from .results import STAGES, EstimateResult, Person
from .skeletons import JointSet, get_joint_set

log = logging.getLogger(__name__)

#: Images smaller than this on either side (px) hold no person: they give an empty result with a note.
MIN_IMAGE_SIDE_PX = 8


# -------------------------------------------------------------------------------------------- estimator --

def part_precisions(precision: str | dict) -> dict[str, str]:
    """``precision`` (one name, or a mapping part → name) as a precision per part (parts not named: fp32)."""
    if isinstance(precision, str):
        return dict.fromkeys(BUNDLE_PARTS, precision)
    unknown = sorted(set(precision) - set(BUNDLE_PARTS))
    if unknown:
        raise EstimatorError(f"precision: unknown parts {unknown}; expected {list(BUNDLE_PARTS)}")
    return {part: str(precision.get(part, "fp32")) for part in BUNDLE_PARTS}


class Estimator:
    """Absolute 3D poses of every person in an image (see the module docstring for the stages and units).

    Args:
        detector: a CenterNet person detector (:class:`~posenet3d.detection.model.CenterNet`, class 0 = person)
            or a torchvision COCO detector (:class:`~posenet3d.detection.torchvision_detectors.
            TorchvisionPersonDetector`; it resizes its input itself: ``det_input_size``, ``det_flip_test`` and
            ``det_keep_aspect`` are CenterNet's), or None: boxes come from elsewhere (:meth:`estimate_from_boxes` only).
        rootnet: a :class:`~rootnet.RootNet`.
        posenet: a :class:`~posenet3d.posenet.model.PoseNet`.
        pose_cfg, root_cfg: their model configs (input size, depth bins and range, ``area_real_mm``).
        det_input_size: detector input side (px, multiple of 32; the published models use 512).
        det_score_thresh: minimum detector score of a person (the reference demo draws > 0.3).
        det_nms_iou: IoU-NMS of the detector boxes (None: off, as in the reference).
        det_flip_test: average the detector over the mirrored image.
        det_keep_aspect: run the detector on a canvas of the image's own shape (long side ``det_input_size``,
            short side rounded up to a multiple of 32) instead of the square: a 16:9 frame costs 62 % of the
            square's work (:func:`~posenet3d.detection.pipeline.prepare_image`; docs/deploy.md has its accuracy).
        joint_set: PoseNet's joint set name (default ``pose_cfg.joint_set``).
        device: where the networks run (``"cpu"``, ``"cuda:0"``, a :class:`torch.device`).
        flip_test: PoseNet flip test (mirrored crops in the same batch).
        pose_nms: AlphaPose parametric pose NMS on the 2D joints (drops duplicate detections).
        max_detection_side: images with a larger side (px) are area-downscaled to it before detection
            (None: never).
        max_people: keep at most this many detections (highest scores first; None: all).
        batch_size: people per network call (PoseNet sees twice as many crops with the flip test).
        channels_last: run the networks in channels-last memory format.
        identity: what the networks are (:func:`~posenet3d.bundle.model_identity`: name, version, domain, files),
            carried by every result as ``model``; :meth:`from_bundle` and :meth:`from_files` fill it in.
        backend: what runs the networks: ``torch``, ``onnxruntime`` or ``openvino`` (CPU only; the same outputs
            within 1e-3 heatmap units and 0.5 mm, :mod:`posenet3d.runtime`).
        precision: ``fp32``, ``bf16`` (torch autocast or OpenVINO, on a CPU with native bf16; elsewhere fp32
            with a note in :attr:`runtime`) or ``int8`` (onnxruntime/openvino from int8 ONNX files); or a mapping
            part → precision (parts not named: fp32).
        streams: image groups run at once in throughput mode (:meth:`estimate_many`, and so
            :func:`~posenet3d.collection.estimate_collection` and the demo's ``--throughput``), each in a worker
            thread with ``threads // streams`` of the CPU threads (``threads``: torch's intra-op threads when the
            estimator is built); 1: one group at a time on every thread.
        onnx_files: per part (detector/rootnet/posenet) the ONNX file to run (:mod:`posenet3d.export`); parts
            without one are exported from the torch networks when the estimator is built.
    """

    def __init__(self, detector: nn.Module | None, rootnet: nn.Module, posenet: nn.Module, *, pose_cfg: ModelConfig,
                 root_cfg: ModelConfig, det_input_size: int = 512, det_score_thresh: float = 0.3,
                 det_nms_iou: float | None = 0.7, det_flip_test: bool = False, det_keep_aspect: bool = False,
                 joint_set: str | None = None,
                 device: str | torch.device = "cpu", flip_test: bool = True, pose_nms: bool = False,
                 max_detection_side: int | None = 1024, max_people: int | None = None, batch_size: int = 16,
                 channels_last: bool = False, identity: dict | None = None, backend: str = "torch",
                 precision: str | dict = "fp32", streams: int = 1, onnx_files: dict | None = None) -> None:
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
        if int(streams) != streams or streams < 1:
            raise EstimatorError(f"streams must be a whole number >= 1, got {streams}")
        for name, value in (("det_flip_test", det_flip_test), ("det_keep_aspect", det_keep_aspect)):
            if value and isinstance(detector, TorchvisionPersonDetector):
                raise EstimatorError(f"{name} is CenterNet's; the torchvision detector {detector.name} has none")
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
        self.det_keep_aspect = bool(det_keep_aspect)
        self.flip_test, self.pose_nms = bool(flip_test), bool(pose_nms)
        self.max_detection_side = None if max_detection_side is None else int(max_detection_side)
        self.max_people = None if max_people is None else int(max_people)
        self.batch_size, self.channels_last = int(batch_size), bool(channels_last)
        self.streams, self.threads = int(streams), torch.get_num_threads()
        self._stream_local = threading.local()  # .worker: this thread is one of map_streams' workers
        self.device = torch.device(device)
        self.identity = None if identity is None else dict(identity)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.detector = None if detector is None else detector.to(self.device, memory_format=fmt).eval()
        self.rootnet = rootnet.to(self.device, memory_format=fmt).eval()
        self.posenet = posenet.to(self.device, memory_format=fmt).eval()
        self._set_runtime(backend, precision, onnx_files or {})

    def _set_runtime(self, backend: str, precision: str | dict, onnx_files: dict) -> None:
        """Replace the three networks by their runners (:func:`~posenet3d.runtime.make_runner`); what runs each
        part is in ``self.runtime`` (:class:`~posenet3d.runtime.RunnerInfo`)."""
        from .runtime import RunnerInfo, make_runner
        if backend != "torch" and self.device.type != "cpu":
            raise EstimatorError(f"backend {backend} runs on the CPU only, not on {self.device}")
        precisions = part_precisions(precision)
        unknown = sorted(set(onnx_files) - set(BUNDLE_PARTS))
        if unknown:
            raise EstimatorError(f"onnx_files: unknown parts {unknown}; expected {list(BUNDLE_PARTS)}")
        sizes = {"detector": self.det_input_size, "rootnet": self.root_codec.input_shape[0],
                 "posenet": self.pose_codec.input_shape[0]}
        self.backend, self.precision, self.runtime = backend, precision, {}
        for part in BUNDLE_PARTS:
            net = getattr(self, part)
            if net is None:  # boxes given by the caller: no detector
                continue
            if isinstance(net, TorchvisionPersonDetector):  # two-stage torchvision detectors stay in torch
                note = ("" if backend == "torch" and precisions[part] == "fp32" else
                        f"detector: {net.name} runs in torch at fp32 (no {backend}/{precisions[part]} export)")
                if note:
                    log.warning(note)
                self.runtime[part] = RunnerInfo("torch", precisions[part], "fp32", note)
                continue
            sha = (((self.identity or {}).get("files") or {}).get(part) or {}).get("sha256")
            runner, info = make_runner(part, getattr(self, part), backend, precisions[part], onnx=onnx_files.get(part),
                                       input_size=sizes[part], joint_set=self.joint_set.name, source_sha256=sha,
                                       threads=self.threads, streams=self.streams)
            setattr(self, part, runner)
            self.runtime[part] = info

    # ---------------------------------------------------------------------------------- constructors
    @classmethod
    def from_bundle(cls, folder: str | os.PathLike, *, device: str | torch.device = "cpu",
                    detector: str | None = None, **options) -> Estimator:
        """Load a bundle folder (``estimator.yaml`` + weights, module docstring). ``options`` override the
        bundle's ``options``; ``detector`` (``"torchvision:NAME"``, or ``"centernet"``: the bundle's own) replaces
        the bundle's detector (None: the bundle's, which may itself name a torchvision detector, built with its
        COCO weights). With a ``backend`` other than torch the bundle's ONNX files are used when it has them
        (``posenet3d export --into-bundle``; ``*.int8.onnx`` for ``precision="int8"``). Raises
        :class:`EstimatorError` / :class:`~posenet3d.checkpoint.CheckpointError` naming the file."""
        spec = read_bundle(folder)
        det_name = spec.detector if detector is None else detector
        if det_name == "centernet":
            if "detector" not in spec.cfgs:
                raise EstimatorError(f"{spec.folder / BUNDLE_FILE}: the bundle has no CenterNet (its detector is "
                                     f"{spec.detector}); name a torchvision detector instead")
            det_name = None
        nets = {}
        identity = dict(spec.model, files=dict(spec.model.get("files", {})))
        if det_name is not None:
            nets["detector"] = build_torchvision_detector(det_name)
            identity["files"]["detector"] = nets["detector"].identity_file()
        for part, cfg in spec.cfgs.items():
            if part in nets:
                continue
            nets[part] = build_network(cfg)
            load_weights(nets[part], spec.paths[part])
            bad = [k for k, v in nets[part].state_dict().items()
                   if v.is_floating_point() and not torch.isfinite(v).all()]
            if bad:
                raise EstimatorError(f"{spec.paths[part]}: {len(bad)} tensors hold inf/NaN (first: {bad[0]}); "
                                     "re-create the bundle with posenet3d bundle make")
        opts = {**spec.options, **options}
        if "detector" in spec.cfgs:
            opts.setdefault("det_input_size", spec.cfgs["detector"].input_size)
        onnx_files = opts.pop("onnx_files", None)
        check_options(opts, str(spec.folder / BUNDLE_FILE))
        if opts.get("backend", "torch") != "torch" and onnx_files is None:
            from .export import bundle_onnx_files  # the bundle's own exports (posenet3d export --into-bundle)
            onnx_files = bundle_onnx_files(spec.folder, part_precisions(opts.get("precision", "fp32")))
        log.info("loaded estimator bundle %s (%s)", spec.folder, ", ".join(
            f"{p}: {identity['files'][p]['file']}" for p in BUNDLE_PARTS))
        return cls(nets["detector"], nets["rootnet"], nets["posenet"], pose_cfg=spec.cfgs["posenet"],
                   root_cfg=spec.cfgs["rootnet"], device=device, identity=identity, onnx_files=onnx_files,
                   **opts)

    @classmethod
    def from_files(cls, detector: str | os.PathLike | None, rootnet: str | os.PathLike, posenet: str | os.PathLike, *,
                   detector_arch: str = "resdcn_18", det_cfg: ModelConfig | None = None,
                   pose_cfg: ModelConfig | None = None, root_cfg: ModelConfig | None = None,
                   device: str | torch.device = "cpu", domain: str | None = None, name: str | None = None,
                   **options) -> Estimator:
        """Build from three weight files.

        ``detector``: a published CenterNet ctdet COCO checkpoint of ``detector_arch`` (person channel kept,
        :func:`~posenet3d.detection.checkpoint.load_centernet`), or, with ``det_cfg`` (a centernet
        :class:`ModelConfig`), any state_dict file of that network, or ``"torchvision:NAME"``: a torchvision COCO
        detector with its COCO weights (:mod:`posenet3d.detection.torchvision_detectors`), or None (no detector:
        boxes come from elsewhere, :meth:`estimate_from_boxes`).
        ``rootnet``/``posenet``: snapshots or state_dicts; without ``root_cfg``/``pose_cfg`` they are the
        published 3DMPPE models (ResNet-50, 21 MuCo joints, 256² input, 64 depth bins).
        ``options``: :class:`Estimator` keyword arguments.

        The identity the results carry (``model``) holds the three file names and their SHA-256, ``domain``
        (:data:`~posenet3d.bundle.MODEL_DOMAINS`; default ``"published"`` without ``pose_cfg``/``root_cfg``, else
        ``"own"``) and ``name`` (default ``"3dmppe-published"`` or ``"own"``); no version.
        """
        domain = domain or ("published" if pose_cfg is None and root_cfg is None else "own")
        name = name or ("3dmppe-published" if domain == "published" else "own")
        model_identity(name, None, domain, {}, {})  # checks the domain before loading anything
        check_options({k: v for k, v in options.items() if k != "onnx_files"}, "from_files")
        pose_cfg = pose_cfg or ModelConfig(task="posenet")
        root_cfg = root_cfg or ModelConfig(task="rootnet")
        if detector is None:
            det = None
        elif is_torchvision_name(detector):
            det = build_torchvision_detector(detector)
        elif det_cfg is not None:
            det = build_network(det_cfg)
            load_weights(det, detector)
            options.setdefault("det_input_size", det_cfg.input_size)
        else:
            det = load_centernet(detector, detector_arch, task="ctdet")
        root, pose = build_network(root_cfg), build_network(pose_cfg)
        load_weights(root, rootnet)
        load_weights(pose, posenet)
        paths = {"rootnet": rootnet, "posenet": posenet}
        if det is not None and not isinstance(det, TorchvisionPersonDetector):
            paths = {"detector": detector, **paths}
        identity = model_identity(name, None, domain, paths, {part: sha256_file(p) for part, p in paths.items()})
        if isinstance(det, TorchvisionPersonDetector):
            identity["files"] = {"detector": det.identity_file(), **identity["files"]}
        return cls(det, root, pose, pose_cfg=pose_cfg, root_cfg=root_cfg, device=device, identity=identity,
                   **options)

    # ------------------------------------------------------------------------------------ accessors
    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.joint_set.joints_name

    @property
    def skeleton(self) -> tuple[tuple[int, int], ...]:
        return self.joint_set.skeleton

    def init_stream_thread(self) -> None:
        """Run first in each throughput-mode worker thread: its torch intra-op threads become its share of the
        CPU threads (``threads // streams``, at least 1; other threads keep theirs)."""
        torch.get_num_threads()  # torch sets a thread's count lazily on first use: settle it before changing it
        torch.set_num_threads(max(1, self.threads // self.streams))
        self._stream_local.worker = True

    def map_streams(self, fn: Callable, items: Iterable) -> Iterator:
        """``fn(item)`` of every item, ``streams`` at a time in worker threads (each on its share of the threads,
        :meth:`init_stream_thread`), yielded in the items' order; with one stream in the caller's thread. At most
        ``streams + 1`` items are taken ahead. An exception of ``fn`` is raised here, after the results before it;
        the caller's torch thread count is restored at the end. Called from a worker (``fn`` calling
        :meth:`estimate_many`), it runs in that worker."""
        if self.streams == 1 or getattr(self._stream_local, "worker", False):
            yield from map(fn, items)
            return
        before = torch.get_num_threads()
        pool, pending = ThreadPoolExecutor(self.streams, initializer=self.init_stream_thread), deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > self.streams:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(before)  # a worker's count is also torch's default for threads made later

    # ---------------------------------------------------------------------------------------- stages
    def _image(self, image, timings: dict[str, float]) -> np.ndarray:
        t = time.perf_counter()
        if isinstance(image, (str, os.PathLike)):
            img = read_image(image, orientation="exif")  # a user's photo: upright as its EXIF says
        else:
            img = to_bgr(image, "image")
        timings["read"] = (time.perf_counter() - t) * 1000.0
        return img

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(N, 4)`` ``[x, y, w, h]`` px of the full image and their scores ``(N,)``, best first."""
        if self.detector is None:
            raise EstimatorError("this estimator has no detector: give the boxes (estimate_from_boxes)")
        return self.detect_many([image_bgr])[0]

    def detect_many(self, images_bgr: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`detect` of several images in one detector batch (each letterboxed onto the same input; a
        torchvision detector takes them one by one)."""
        if self.detector is None:
            raise EstimatorError("this estimator has no detector: give the boxes (estimate_from_boxes)")
        smalls, scales = [], []
        for image_bgr in images_bgr:
            h, w = image_bgr.shape[:2]
            small, sx, sy = image_bgr, 1.0, 1.0
            if self.max_detection_side is not None and max(h, w) > self.max_detection_side:
                r = self.max_detection_side / max(h, w)
                size = (max(1, round(w * r)), max(1, round(h * r)))
                small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
                sx, sy = w / size[0], h / size[1]
            smalls.append(small)
            scales.append((sx, sy))
        with torch.inference_mode():
            if isinstance(self.detector, TorchvisionPersonDetector):
                dets = [self.detector.detect(small, score_thresh=self.det_score_thresh, nms_iou=self.det_nms_iou)
                        for small in smalls]
            else:
                dets = detect_people(self.detector, smalls, input_size=self.det_input_size,
                                     score_thresh=self.det_score_thresh, flip_test=self.det_flip_test,
                                     nms_iou=self.det_nms_iou, keep_aspect=self.det_keep_aspect)
        out = []
        for det, (sx, sy) in zip(dets, scales):
            xyxy = det.boxes_xyxy.astype(np.float64)
            if sx != 1.0 or sy != 1.0:  # pixel centres: u_full = (u_small + 0.5)·s − 0.5
                xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] + 0.5) * sx - 0.5
                xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] + 0.5) * sy - 0.5
            boxes = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
            scores = det.scores.astype(np.float64)
            if self.max_people is not None:
                boxes, scores = boxes[:self.max_people], scores[:self.max_people]
            out.append((boxes, scores))
        return out

    def crop_batch(self, image_bgr: np.ndarray, crop_boxes_px: np.ndarray, codec: TopDownCodec
                   ) -> tuple[torch.Tensor, CropRecord]:
        """Normalised network inputs ``(N, 3, H_in, W_in)`` (CPU, float32) for crop boxes ``(N, 4)`` px, and
        their crop records (what decoding inverts). The same crop as
        :class:`~posenet3d.datasets.torch_dataset.PoseDataset`'s at test time."""
        ih, iw = codec.input_shape
        patches = np.empty((len(crop_boxes_px), ih, iw, 3), dtype=np.uint8)
        records = []
        for i, box in enumerate(crop_boxes_px):
            patch, rec = crop_patch(image_bgr, box, codec.patch_size)
            patches[i] = patch[:, :, ::-1]  # BGR → RGB
            records.append(rec)
        return normalize_patch(patches, channels_last=self.channels_last), stack_records(records)

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

    def run_posenet(self, x: torch.Tensor, per_crop: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """PoseNet on crops ``(N, 3, H, W)`` → (``(N, J, 3)`` heatmap units, ``(N, J)`` joint confidences 0..1)
        through :func:`posenet3d.posenet.model.predict` (with ``flip_test`` the mirrored crops run in the same
        batch). ``per_crop`` runs one crop (and its mirror) per call, for comparison."""
        pairs = self.joint_set.flip_pairs if self.flip_test else None
        coords, confs = [], []
        with torch.inference_mode():
            for sl in self._chunks(len(x), 1 if per_crop else self.batch_size):
                c, conf = predict(self.posenet, x[sl].to(self.device), pairs, self.pose_codec.output_shape[1],
                                  return_confidence=True)
                coords.append(c.float().cpu())
                confs.append(conf.float().cpu())
        j = self.joint_set.joint_num
        if not coords:
            return np.zeros((0, j, 3), dtype=np.float32), np.zeros((0, j), dtype=np.float32)
        return torch.cat(coords).numpy(), torch.cat(confs).numpy()

    # ---------------------------------------------------------------------------------------- public
    def estimate(self, image: np.ndarray | str | os.PathLike, intrinsics=None, focal=None) -> EstimateResult:
        """Every person's absolute 3D pose in ``image`` (a path, or an 8-bit grey, BGR or BGRA array).

        ``intrinsics`` (3×3 K or ``(fx, fy, cx, cy)`` px) or ``focal`` (``f`` or ``(fx, fy)`` px); default f =
        1500 px at the image centre (depth ∝ focal length; module docstring). Returns an :class:`EstimateResult`
        (empty when nobody is found; empty with a note in ``notes`` for an image with a side under
        :data:`MIN_IMAGE_SIDE_PX`, which cannot hold a person). A path is read upright as its EXIF orientation
        says (:func:`~posenet3d.media.read_image` ``orientation="exif"``; an array is used as it is). Raises
        :class:`~posenet3d.media.MediaError` for an unusable image.
        """
        t0 = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        img = self._image(image, timings)
        intr = resolve_intrinsics(img.shape[1], img.shape[0], intrinsics, focal)
        if note := self._too_small(img):
            return self._empty(intr, img, timings, t0, (note,))
        t = time.perf_counter()
        boxes, scores = self.detect(img)
        timings["detector"] = (time.perf_counter() - t) * 1000.0
        return self._estimate(img, boxes, scores, intr, timings, t0, per_crop=False)

    def estimate_from_boxes(self, image: np.ndarray | str | os.PathLike, boxes_xywh, scores=None,
                            intrinsics=None, focal=None, *, per_crop: bool = False,
                            processed: bool = False) -> EstimateResult:
        """As :meth:`estimate` but with given person boxes ``(N, 4)`` ``[x, y, w, h]`` px (and scores, default
        1) instead of the detector. ``per_crop`` runs RootNet and PoseNet one crop per call (reference-style;
        the results equal the batched ones up to float rounding). ``processed``: the boxes are crop boxes
        already (square, ×1.25: the 3DMPPE ``bbox_root`` files) and are used as they are. Boxes from a file:
        :mod:`posenet3d.detection.boxes_io`."""
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
        if note := self._too_small(img):
            return self._empty(intr, img, timings, t0, (note,))
        return self._estimate(img, boxes, scores, intr, timings, t0, per_crop=per_crop, processed=processed)

    def _empty(self, intr: Intrinsics, img: np.ndarray, timings: dict[str, float], t0: float,
               notes: tuple[str, ...] = ()) -> EstimateResult:
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return EstimateResult([], self.joint_names, self.skeleton, intr, (img.shape[1], img.shape[0]), timings,
                              self.identity, list(notes))

    @staticmethod
    def _too_small(img: np.ndarray) -> str | None:
        """The note of an image too small to hold a person (None when it is not)."""
        h, w = img.shape[:2]
        if min(h, w) >= MIN_IMAGE_SIDE_PX:
            return None
        return (f"the image is {w}x{h} px, too small to hold a person (a side under {MIN_IMAGE_SIDE_PX} px): "
                f"nobody was searched for")

    def estimate_many(self, images: Iterable, cameras: Iterable[dict] | None = None, *,
                      batch_images: int = 8) -> Iterator[EstimateResult]:
        """Throughput mode: :meth:`estimate` of every image of ``images`` (paths or arrays, any iterable — e.g.
        decoded in a background thread by :func:`~posenet3d.media.prefetch`), in order, ``batch_images`` at a
        time: the detector runs once per group and RootNet/PoseNet on the people of the whole group together
        (``batch_size`` people per call). ``cameras``: one ``{"intrinsics": …}`` / ``{"focal": …}`` / ``{}`` per
        image (default f = 1500 px). With ``streams`` > 1, that many groups run at once (:meth:`map_streams`).
        Results equal :meth:`estimate`'s up to float rounding; the network stages' ``timings_ms`` are the
        group's, shared among its images by their people. An image that cannot be read raises here, as in
        :meth:`estimate`, after the results of the images before its group."""
        if int(batch_images) < 1:
            raise EstimatorError(f"batch_images must be >= 1, got {batch_images}")
        cams = iter(cameras) if cameras is not None else None

        def groups() -> Iterator[list]:
            group: list = []
            for image in images:
                group.append((image, next(cams, {}) if cams is not None else {}))
                if len(group) == batch_images:
                    yield group
                    group = []
            if group:
                yield group
        for results in self.map_streams(self._estimate_group, groups()):
            yield from results

    def _estimate_group(self, group: list) -> list[EstimateResult]:
        t0 = time.perf_counter()
        items = []  # per image: [img, intr, timings, job or None, note or None]
        for image, cam in group:
            timings = dict.fromkeys(STAGES, 0.0)
            img = self._image(image, timings)
            intr = resolve_intrinsics(img.shape[1], img.shape[0], cam.get("intrinsics"), cam.get("focal"))
            items.append([img, intr, timings, None, self._too_small(img)])
        searched = [it for it in items if it[4] is None]
        t = time.perf_counter()
        detections = self.detect_many([it[0] for it in searched]) if searched else []
        t_det = (time.perf_counter() - t) * 1000.0
        for it, (boxes, scores) in zip(searched, detections):
            it[2]["detector"] = t_det / len(searched)
            it[3] = self._crop_job(it[0], boxes, scores, it[1], it[2])
        jobs = [it[3] for it in items if it[3] is not None]
        if jobs:
            t = time.perf_counter()
            root_out = self.run_rootnet(torch.cat([j["x_root"] for j in jobs]), np.concatenate([j["k"] for j in jobs]))
            t_root = (time.perf_counter() - t) * 1000.0
            t = time.perf_counter()
            coord_hm, joint_conf = self.run_posenet(torch.cat([j["x_pose"] for j in jobs]))
            t_pose = (time.perf_counter() - t) * 1000.0
            start, total = 0, sum(len(j["boxes"]) for j in jobs)
            for j in jobs:
                n = len(j["boxes"])
                j["outputs"] = root_out[start:start + n], coord_hm[start:start + n], joint_conf[start:start + n]
                j["timings"]["rootnet"], j["timings"]["posenet"] = t_root * n / total, t_pose * n / total
                start += n
        results = []
        for img, intr, timings, job, note in items:
            if job is None:
                results.append(self._empty(intr, img, timings, t0, (note,) if note else ()))
            else:
                results.append(self._finish(job, *job["outputs"], t0))
        return results

    def _crop_job(self, img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, intr: Intrinsics,
                  timings: dict[str, float], processed: bool = False) -> dict | None:
        """The people stage's inputs for one image (crops, their records and k), or None when no box is left."""
        h, w = img.shape[:2]
        ih, iw = self.pose_codec.input_shape
        cboxes, valid = crop_boxes(boxes, w, h, aspect_ratio=iw / ih, processed=processed)
        boxes, scores, cboxes = boxes[valid], scores[valid], cboxes[valid]
        if len(boxes) == 0:
            return None
        t = time.perf_counter()
        x_pose, pose_crops = self.crop_batch(img, cboxes, self.pose_codec)
        same = self.root_codec.input_shape == self.pose_codec.input_shape
        x_root, root_crops = (x_pose, pose_crops) if same else self.crop_batch(img, cboxes, self.root_codec)
        k = k_value(cboxes, intr.focal, self.root_codec.area_real_mm)
        timings["crop"] = (time.perf_counter() - t) * 1000.0
        return {"img": img, "intr": intr, "timings": timings, "boxes": boxes, "scores": scores, "cboxes": cboxes,
                "x_pose": x_pose, "pose_crops": pose_crops, "x_root": x_root, "root_crops": root_crops, "k": k}

    def _estimate(self, img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, intr: Intrinsics,
                  timings: dict[str, float], t0: float, per_crop: bool, processed: bool = False) -> EstimateResult:
        job = self._crop_job(img, boxes, scores, intr, timings, processed)
        if job is None:
            return self._empty(intr, img, timings, t0)
        t = time.perf_counter()
        root_out = self.run_rootnet(job["x_root"], job["k"], per_crop)
        timings["rootnet"] = (time.perf_counter() - t) * 1000.0
        t = time.perf_counter()
        coord_hm, joint_conf = self.run_posenet(job["x_pose"], per_crop)
        timings["posenet"] = (time.perf_counter() - t) * 1000.0
        return self._finish(job, root_out, coord_hm, joint_conf, t0)

    def _finish(self, job: dict, root_out: np.ndarray, coord_hm: np.ndarray, joint_conf: np.ndarray,
                t0: float) -> EstimateResult:
        """Decode one image's network outputs into its :class:`EstimateResult`."""
        img, intr, timings, boxes, scores = job["img"], job["intr"], job["timings"], job["boxes"], job["scores"]
        h, w = img.shape[:2]
        t = time.perf_counter()
        root = self.root_codec.decode_root(root_out, job["root_crops"], intr.focal, intr.princpt)
        pose = self.pose_codec.decode_pose(coord_hm, job["pose_crops"], root_out[:, 2], intr.focal, intr.princpt)
        order = np.arange(len(boxes))
        if self.pose_nms and len(boxes) > 1:
            kept = parametric_pose_nms(boxes, scores, pose.joints_img[:, :, :2]).keep
            order = kept[np.argsort(-scores[kept], kind="stable")]
        cboxes = job["cboxes"]
        people = [Person(bbox=boxes[i].copy(), score=float(scores[i]), root_cam_mm=root.joints_cam_mm[i].copy(),
                         joints_cam_mm=pose.joints_cam_mm[i].copy(), joints_2d_px=pose.joints_img[i, :, :2].copy(),
                         crop_box=cboxes[i].copy(), joint_conf=joint_conf[i].copy()) for i in order]
        timings["decode"] = (time.perf_counter() - t) * 1000.0
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return EstimateResult(people, self.joint_names, self.skeleton, intr, (w, h), timings, self.identity)


__all__ = ["BUNDLE_FILE", "BUNDLE_PARTS", "DEFAULT_FOCAL_PX", "MIN_IMAGE_SIDE_PX", "MODEL_DOMAINS", "STAGES",
           "BundleInfo", "BundleSpec", "EstimateResult", "Estimator", "EstimatorError", "Intrinsics", "Person",
           "build_network", "read_bundle", "resolve_intrinsics", "save_bundle"]
