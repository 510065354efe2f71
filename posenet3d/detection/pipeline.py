"""The CenterNet person detector's data path: input convention, training samples, and inference to image boxes.

* **Input convention** (the published CenterNet models): the image stays **BGR** as OpenCV reads it, is warped
  by a keep-aspect ("letterbox") affine onto a 512×512 canvas (zero border), scaled to [0, 1] and normalised
  with the COCO mean/std in BGR order: ``(img/255 − mean)/std``. The affine maps the ``s``-pixel-wide square
  around the centre ``c`` onto the canvas width (``s = max(H, W)`` and ``c`` = image centre at test time).
* **Keep-aspect canvas** (``keep_aspect=True``, ours; the published CenterNet's ``--keep_res`` idea at a chosen
  resolution): the long side is still scaled to the input size, but the canvas is the scaled image rounded up to a
  multiple of :data:`CANVAS_STRIDE` instead of the square — a 16:9 frame at 416 px runs on 416×256, 62 % of the
  square's pixels. A batch of images shares one canvas (the largest of theirs), each centred on it.
* **Output frame**: network maps have stride 4 (128×128 for 512 input); targets and decoded boxes are in its
  pixels and go back to image pixels through the inverse of the image → output affine.
* **Training augmentation** (reference defaults): random crop (scale × one of 0.6…1.3, centre drawn at least a
  border away from the image edge), horizontal flip (p 0.5, keypoint L/R pairs swapped), colour jitter
  (brightness, contrast, saturation ±40 % in random order) and PCA lighting (σ 0.1).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from torchvision.ops import nms

from posenet3d.crop import crop_affine, invert_affine
from posenet3d.datasets.base import DatasetError, require_field
from posenet3d.detection.decode import decode
from posenet3d.detection.model import COCO_FLIP_PAIRS, NUM_KEYPOINTS
from posenet3d.detection.targets import build_ctdet_targets, build_multi_pose_targets
from posenet3d.geometry import apply_affine
from posenet3d.media import MediaError, read_image

COCO_MEAN_BGR = (0.40789654, 0.44719302, 0.47026115)
COCO_STD_BGR = (0.28863828, 0.27408164, 0.27809835)
INPUT_SIZE = 512
DOWN_RATIO = 4
#: The keep-aspect canvas's sides are multiples of this (the backbone's total stride).
CANVAS_STRIDE = 32
PCA_EIGVAL = np.array([0.2141788, 0.01817699, 0.00341571], dtype=np.float32)
PCA_EIGVEC = np.array([[-0.58752847, -0.69563484, 0.41340352],
                       [-0.5832747, 0.00994535, -0.81221408],
                       [-0.56089297, 0.71832671, 0.41158938]], dtype=np.float32)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    w, h = size
    return int(w), int(h)


def letterbox_affine(center_px: Sequence[float], scale_px: float, out_size: int | Sequence[int],
                     inverse: bool = False) -> np.ndarray:
    """2×3 affine from the image (px) to an ``out_size`` = (W, H) canvas: the ``scale_px``-wide square around
    ``center_px`` maps onto the canvas width (isotropic, the rest letterboxed) and the centre onto the canvas
    centre. ``inverse=True`` gives canvas → image. (CenterNet's ``get_affine_transform`` without rotation.)"""
    ow, oh = _pair(out_size)
    s = float(scale_px)
    return crop_affine(center_px, (s, s * oh / ow), (ow, oh), inverse=inverse)


def normalize_bgr(img_bgr01: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` BGR in [0, 1] → ``(3, H, W)`` float32 ``(img − COCO mean)/COCO std``."""
    img = (np.asarray(img_bgr01, dtype=np.float32) - np.float32(COCO_MEAN_BGR)) / np.float32(COCO_STD_BGR)
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def _check_image(img: np.ndarray, what: str = "image") -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 \
            or img.shape[1] < 1:
        shape = getattr(img, "shape", type(img).__name__)
        raise ValueError(f"{what}: expected an (H, W, 3) BGR image array, got {shape}")
    return img


@dataclass
class ImageMeta:
    """How one image was placed on the network input: ``center`` (px), ``scale`` (px, the width of the image
    square mapped onto the input), ``input_size`` and ``output_size`` = (W, H) of the input and of the maps."""

    center: np.ndarray
    scale: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]

    def output_to_image(self) -> np.ndarray:
        """2×3 affine from output-map pixels to image pixels: the exact inverse of the image → output affine the
        training targets are mapped with."""
        return invert_affine(letterbox_affine(self.center, self.scale, self.output_size))


def fit_canvas(width: int, height: int, size: int, stride: int = CANVAS_STRIDE) -> tuple[int, int]:
    """The keep-aspect canvas (W, H) px of a ``width`` × ``height`` image whose long side is scaled to ``size``
    (a multiple of ``stride``): the scaled image's sides rounded up to multiples of ``stride``."""
    r = size / max(width, height)
    return tuple(min(size, stride * max(1, int(np.ceil(side * r / stride - 1e-9)))) for side in (width, height))


def prepare_image(img_bgr: np.ndarray, input_size: int | Sequence[int] = INPUT_SIZE,
                  down_ratio: int = DOWN_RATIO, *, keep_aspect: bool = False,
                  canvas: tuple[int, int] | None = None) -> tuple[torch.Tensor, ImageMeta]:
    """Test-time input: the whole image letterboxed onto ``input_size`` → ``(3, H_in, W_in)`` tensor + meta.

    ``keep_aspect`` (``input_size`` one side S): the long side scaled to S on a canvas of the image's own shape
    (:func:`fit_canvas`), or on ``canvas`` = (W, H) when given (a batch's common canvas, at least the image's
    own)."""
    img = _check_image(img_bgr)
    h, w = img.shape[:2]
    if keep_aspect:
        size = _pair(input_size)
        if size[0] != size[1]:
            raise ValueError(f"keep_aspect takes one input side, got {size}")
        own = fit_canvas(w, h, size[0])
        iw, ih = canvas or own
        if iw < own[0] or ih < own[1]:
            raise ValueError(f"canvas {(iw, ih)} is smaller than the image's own {own}")
        scale = iw * max(h, w) / size[0]  # the image-px width mapped onto the canvas width
    else:
        iw, ih = _pair(input_size)
        scale = float(max(h, w))
    if iw % down_ratio or ih % down_ratio:
        raise ValueError(f"input size {(iw, ih)} must be a multiple of the output stride {down_ratio}")
    meta = ImageMeta(center=np.array([w / 2.0, h / 2.0]), scale=float(scale), input_size=(iw, ih),
                     output_size=(iw // down_ratio, ih // down_ratio))
    warped = cv2.warpAffine(img, letterbox_affine(meta.center, meta.scale, (iw, ih)), (iw, ih),
                            flags=cv2.INTER_LINEAR)
    return torch.from_numpy(normalize_bgr(warped.astype(np.float32) / 255.0)), meta


# ------------------------------------------------------------------------------------------ augmentation --

def _border(border: int, size: int) -> int:
    i = 1
    while size - border // i <= border // i:
        i *= 2
    return border // i


def color_augment(img_bgr01: np.ndarray, rng: np.random.Generator, var: float = 0.4,
                  light_std: float = 0.1) -> np.ndarray:
    """In place on a float32 ``(H, W, 3)`` BGR image in [0, 1]: brightness, contrast and saturation (each
    α = 1 + U(−var, var), random order, grey computed once up front), then PCA lighting
    ``img += eigvec · (eigval ∘ N(0, light_std))``. No clipping, as in the reference. Returns ``img_bgr01``."""
    img = img_bgr01
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    grey_mean = float(grey.mean())
    for op in rng.permutation(3):
        alpha = 1.0 + rng.uniform(-var, var)
        if op == 0:  # brightness
            img *= alpha
        elif op == 1:  # contrast: blend with the mean grey level
            img *= alpha
            img += (1 - alpha) * grey_mean
        else:  # saturation: blend with the grey image
            img *= alpha
            img += (1 - alpha) * grey[:, :, None]
    img += PCA_EIGVEC @ (PCA_EIGVAL * rng.normal(0.0, light_std, size=3).astype(np.float32))
    return img


@dataclass
class AugmentConfig:
    """Training augmentation (reference defaults). ``rand_crop`` uses the CornerNet-style crop; otherwise
    ``shift``/``scale`` jitter the centre and scale with a clipped normal."""

    rand_crop: bool = True
    shift: float = 0.1
    scale: float = 0.4
    flip_prob: float = 0.5
    color: bool = True


def sample_affine(img_w: int, img_h: int, rng: np.random.Generator | None, aug: AugmentConfig | None
                  ) -> tuple[np.ndarray, float, bool]:
    """Centre (px), scale (px) and flip flag of one training (``aug`` set) or test (``aug`` None) sample.
    With a flip the centre is given in the flipped image's frame."""
    c = np.array([img_w / 2.0, img_h / 2.0])
    s = float(max(img_h, img_w))
    flipped = False
    if aug is None:
        return c, s, flipped
    if rng is None:
        raise ValueError("training augmentation needs a random generator")
    if aug.rand_crop:
        s *= float(rng.choice(np.arange(0.6, 1.4, 0.1)))
        wb, hb = _border(128, img_w), _border(128, img_h)
        c[0] = rng.integers(wb, max(wb + 1, img_w - wb))
        c[1] = rng.integers(hb, max(hb + 1, img_h - hb))
    else:
        c += s * np.clip(rng.normal(size=2) * aug.shift, -2 * aug.shift, 2 * aug.shift)
        s *= float(np.clip(rng.normal() * aug.scale + 1, 1 - aug.scale, 1 + aug.scale))
    if rng.random() < aug.flip_prob:
        flipped = True
        c[0] = img_w - c[0] - 1
    return c, s, flipped


# --------------------------------------------------------------------------------------------- dataset --

@dataclass
class _ImageEntry:
    path: Path
    img_id: int
    boxes_xywh: np.ndarray  # (N, 4) px
    keypoints: np.ndarray  # (N, 17, 3) px + visibility (zeros when absent)


def read_coco_person_json(ann_file: str | Path, img_dir: str | Path, person_category_id: int = 1,
                          include_crowd: bool = True) -> list[_ImageEntry]:
    """Images and person annotations of a COCO-format json (``images`` + ``annotations``; ``keypoints`` optional).
    Every image is kept, also those with nobody in it. Errors name the file, the record and the field."""
    ann_file = Path(ann_file)
    try:
        data = json.loads(ann_file.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{ann_file}: cannot read COCO json ({type(exc).__name__}: {exc})") from None
    images = require_field(data, "images", ann_file, "the file")
    anns = data.get("annotations", [])
    by_img: dict[int, list[dict]] = {}
    entries: dict[int, _ImageEntry] = {}
    for i, im in enumerate(images):
        img_id = int(require_field(im, "id", ann_file, f"images[{i}]"))
        name = require_field(im, "file_name", ann_file, f"images[{i}] (id {img_id})")
        entries[img_id] = _ImageEntry(Path(img_dir) / name, img_id, np.zeros((0, 4)),
                                      np.zeros((0, NUM_KEYPOINTS, 3)))
        by_img[img_id] = []
    for i, a in enumerate(anns):
        what = f"annotations[{i}] (id {a.get('id', '?') if isinstance(a, dict) else '?'})"
        if int(require_field(a, "category_id", ann_file, what)) != person_category_id:
            continue
        if a.get("iscrowd", 0) and not include_crowd:
            continue
        img_id = int(require_field(a, "image_id", ann_file, what))
        if img_id not in by_img:
            raise DatasetError(f"{ann_file}: {what} refers to image_id {img_id}, which is not in 'images'")
        by_img[img_id].append(a)
    for img_id, alist in by_img.items():
        boxes, kps = [], []
        for a in alist:
            what = f"annotation id {a.get('id', '?')} of image {img_id}"
            bbox = require_field(a, "bbox", ann_file, what)
            if len(bbox) != 4:
                raise DatasetError(f"{ann_file}: {what} has bbox {bbox}, expected [x, y, w, h]")
            boxes.append(bbox)
            k = a.get("keypoints")
            if k is None or len(k) == 0:
                kps.append(np.zeros((NUM_KEYPOINTS, 3)))
            elif len(k) != 3 * NUM_KEYPOINTS:
                raise DatasetError(f"{ann_file}: {what} has {len(k)} keypoint values, expected "
                                   f"{3 * NUM_KEYPOINTS} (17 × [x, y, v])")
            else:
                kps.append(np.asarray(k, dtype=np.float64).reshape(NUM_KEYPOINTS, 3))
        if boxes:
            entries[img_id].boxes_xywh = np.asarray(boxes, dtype=np.float64)
            entries[img_id].keypoints = np.stack(kps)
    return list(entries.values())


class CocoPersonDataset(Dataset):
    """A torch Dataset over a COCO-format person json, returning the network input and CenterNet targets.

    ``task`` is ``ctdet`` (boxes) or ``multi_pose`` (boxes + 17 keypoints). Each item is a dict of tensors:
    ``input (3, H_in, W_in)``, the targets of :func:`build_ctdet_targets` / :func:`build_multi_pose_targets`
    (output px), ``img_id``, ``center (2,)`` and ``scale`` (the affine, image px). ``train=True`` applies the
    augmentation ``augment`` (default :class:`AugmentConfig`); ``seed`` fixes each item's randomness (item i
    draws ``default_rng([seed, epoch, i])``: the same in every run, different in every epoch — see
    :meth:`set_epoch`); without it every draw is fresh (seeded by torch, so DataLoader
    workers differ).
    """

    def __init__(self, ann_file: str | Path, img_dir: str | Path, *, task: str = "ctdet", train: bool = True,
                 input_size: int | Sequence[int] = INPUT_SIZE, down_ratio: int = DOWN_RATIO,
                 max_objs: int | None = None, radius_mode: str = "original", person_category_id: int = 1,
                 include_crowd: bool = True, augment: AugmentConfig | None = None, seed: int | None = None,
                 ignore_keypointless: bool = False) -> None:
        if task not in ("ctdet", "multi_pose"):
            raise ValueError(f"unknown task {task!r}; choose 'ctdet' or 'multi_pose'")
        self.task, self.train = task, train
        self.input_size = _pair(input_size)
        if self.input_size[0] % down_ratio or self.input_size[1] % down_ratio:
            raise ValueError(f"input size {self.input_size} must be a multiple of {down_ratio}")
        self.output_size = (self.input_size[0] // down_ratio, self.input_size[1] // down_ratio)
        self.max_objs = max_objs if max_objs is not None else (128 if task == "ctdet" else 32)
        self.radius_mode, self.seed, self.ignore_keypointless = radius_mode, seed, ignore_keypointless
        self.augment = (augment or AugmentConfig()) if train else None
        self.entries = read_coco_person_json(ann_file, img_dir, person_category_id, include_crowd)
        self.ann_file = Path(ann_file)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # seen by persistent workers

    def __len__(self) -> int:
        return len(self.entries)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (the engine calls it before each epoch)."""
        self._epoch.fill_(int(epoch))

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, int(self._epoch.item()), index])
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, ()).item()))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        e = self.entries[index]
        try:
            img = read_image(e.path)
        except MediaError as exc:
            raise DatasetError(f"{self.ann_file}: image id {e.img_id}: {exc}") from None
        h, w = img.shape[:2]
        rng = self._rng(index) if self.augment is not None else None
        c, s, flipped = sample_affine(w, h, rng, self.augment)
        boxes = np.concatenate([e.boxes_xywh[:, :2], e.boxes_xywh[:, :2] + e.boxes_xywh[:, 2:]], axis=1)
        kps = e.keypoints.copy()
        if flipped:
            img = img[:, ::-1]
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]] - 1
            kps[:, :, 0] = w - kps[:, :, 0] - 1
            for a, b in COCO_FLIP_PAIRS:
                kps[:, [a, b]] = kps[:, [b, a]]
        warped = cv2.warpAffine(np.ascontiguousarray(img), letterbox_affine(c, s, self.input_size),
                                self.input_size, flags=cv2.INTER_LINEAR)
        inp = warped.astype(np.float32) / 255.0
        if self.augment is not None and self.augment.color:
            color_augment(inp, rng)
        to_out = letterbox_affine(c, s, self.output_size)
        boxes_out = apply_affine(boxes.reshape(-1, 2, 2), to_out).reshape(-1, 4)
        if self.task == "ctdet":
            t = build_ctdet_targets(boxes_out, None, 1, self.output_size, self.max_objs, self.radius_mode)
        else:
            kps_out = apply_affine(kps, to_out)
            t = build_multi_pose_targets(boxes_out, kps_out, self.output_size, self.max_objs, self.radius_mode,
                                         self.ignore_keypointless)
        item = {k: torch.from_numpy(v) for k, v in t.items()}
        item["input"] = torch.from_numpy(normalize_bgr(inp))
        item["img_id"] = torch.tensor(e.img_id, dtype=torch.int64)
        item["center"] = torch.from_numpy(c.astype(np.float64))
        item["scale"] = torch.tensor(s, dtype=torch.float64)
        return item


# ------------------------------------------------------------------------------------------- inference --

@dataclass
class PersonDetections:
    """People found in one image: ``boxes_xyxy (N, 4)`` image px ``[x1, y1, x2, y2]``, ``scores (N,)``
    (centre-peak probability), ``keypoints (N, 17, 2)`` image px for a multi_pose model, else None.
    Sorted by descending score; N may be 0."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def boxes_xywh(self) -> np.ndarray:
        """``(N, 4)`` ``[x, y, w, h]`` px (the boxes as they are; not extended)."""
        b = self.boxes_xyxy
        return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def postprocess(dets: np.ndarray, meta: ImageMeta, score_thresh: float = 0.05, class_index: int | None = 0,
                nms_iou: float | None = None) -> PersonDetections:
    """Decoded rows of one image (``(K, 6)`` or ``(K, 40)`` in output px, see :mod:`posenet3d.detection.model`)
    → :class:`PersonDetections` in image px: keep class ``class_index`` (None = all) and scores >
    ``score_thresh``, map through the inverse affine, then optional IoU-NMS (torchvision) at ``nms_iou``."""
    dets = np.asarray(dets, dtype=np.float64)
    keep = dets[:, 4] > score_thresh
    if class_index is not None:
        keep &= dets[:, -1] == class_index
    dets = dets[keep]
    back = meta.output_to_image()
    boxes = apply_affine(dets[:, :4].reshape(-1, 2, 2), back).reshape(-1, 4)
    scores = dets[:, 4]
    kps = None
    if dets.shape[1] > 6:
        kps = apply_affine(dets[:, 5:-1].reshape(len(dets), (dets.shape[1] - 6) // 2, 2), back)
    if nms_iou is not None and len(dets):
        order = nms(torch.from_numpy(boxes), torch.from_numpy(scores), float(nms_iou)).numpy()
        boxes, scores = boxes[order], scores[order]
        kps = kps[order] if kps is not None else None
    return PersonDetections(boxes.astype(np.float32), scores.astype(np.float32),
                            None if kps is None else kps.astype(np.float32))


@torch.no_grad()
def detect_people(model: nn.Module, images_bgr: np.ndarray | Sequence[np.ndarray], *,
                  input_size: int | Sequence[int] = INPUT_SIZE, k: int = 100, score_thresh: float = 0.05,
                  flip_test: bool = False, nms_iou: float | None = None, class_index: int | None = 0,
                  keep_aspect: bool = False) -> list[PersonDetections]:
    """Run a CenterNet on one BGR image or a list of them (any sizes; batched on the model's device).

    ``score_thresh`` 0.05 is a floor for evaluation (the reference evaluates all K = 100 peaks; its demo draws
    scores > 0.3). ``flip_test`` averages the image with its mirror (reference §4.5); ``nms_iou`` adds an
    IoU-NMS (the reference has none). ``class_index`` picks the person channel (0 for both our 1-class model
    and the 80-class COCO model). ``keep_aspect`` runs the images on the keep-aspect canvas (module docstring;
    one shared canvas per call). The model is run in eval mode and restored to its previous mode.
    Returns one :class:`PersonDetections` per image (empty when nobody is found).
    """
    single = isinstance(images_bgr, np.ndarray)
    images = [images_bgr] if single else list(images_bgr)
    if not images:
        return []
    images = [_check_image(im, f"image {i}") for i, im in enumerate(images)]
    canvas = None
    if keep_aspect:
        sizes = [fit_canvas(im.shape[1], im.shape[0], _pair(input_size)[0]) for im in images]
        canvas = (max(w for w, _ in sizes), max(h for _, h in sizes))
    prepared = [prepare_image(im, input_size, keep_aspect=keep_aspect, canvas=canvas) for im in images]
    x = torch.stack([t for t, _ in prepared])
    param = next(model.parameters(), None)  # None: a runner without torch parameters (posenet3d.runtime), CPU
    if param is not None:
        x = x.to(device=param.device)
    if flip_test:
        x = torch.cat([x, torch.flip(x, dims=[3])])
    was_training = model.training
    model.eval()
    try:
        outputs = model(x)
    finally:
        model.train(was_training)
    dets = decode(outputs, k=k, flip_test=flip_test).cpu().numpy()
    return [postprocess(d, meta, score_thresh, class_index, nms_iou) for d, (_, meta) in zip(dets, prepared)]
