"""torchvision's COCO-trained detectors as person detectors: boxes the estimator consumes, person class only.

Names (``--detector torchvision:NAME``, a bundle's ``detector: {torchvision: NAME}``, ``Estimator.from_files``):

==============  ====================================  =====================================================
name            torchvision builder                   weights (``weights="DEFAULT"``)
==============  ====================================  =====================================================
fasterrcnn_v2   ``fasterrcnn_resnet50_fpn_v2``        ``FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1``
retinanet       ``retinanet_resnet50_fpn_v2``         ``RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1``
fcos            ``fcos_resnet50_fpn``                 ``FCOS_ResNet50_FPN_Weights.COCO_V1``
ssdlite         ``ssdlite320_mobilenet_v3_large``     ``SSDLite320_MobileNet_V3_Large_Weights.COCO_V1``
==============  ====================================  =====================================================

**Weights.** The COCO weights live in torchvision's own cache, ``torch.hub.get_dir()/checkpoints`` (by default
``~/.cache/torch/hub/checkpoints``; ``TORCH_HOME`` moves it), under the name torchvision gives them (the
basename of ``weights.url``, e.g. ``fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth``). A missing file is
downloaded there once (``torch.hub.download_url_to_file``: hash-prefix checked, written under a temporary name
and moved into place); when that fails (no internet) :class:`~posenet3d.camera.EstimatorError` says, in one
line, which file to put in which folder. The file is then loaded with ``torch.load(..., weights_only=True)``
(:func:`~posenet3d.checkpoint.load_weights`, strict) into the network built with ``weights=None`` — the same
architecture (a test checks it against torchvision's own ``weights="DEFAULT"`` build).

**Detection** (:meth:`TorchvisionPersonDetector.detect`): the BGR image → RGB float in [0, 1] → the model (it
resizes and normalises itself: R-CNN/RetinaNet/FCOS to a shorter side of 800 px, SSDlite to 320²) → boxes
``[x1, y1, x2, y2]`` in image px with COCO labels; kept: label 1 (person), score > the estimator's
``det_score_thresh``, then IoU-NMS at ``det_nms_iou`` — the same two steps as CenterNet's
(:func:`~posenet3d.detection.pipeline.postprocess`), best first. (The models' own per-class NMS and their 0.05
score floor run inside them before that.)
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.ops import nms

from ..camera import EstimatorError
from .pipeline import PersonDetections

log = logging.getLogger(__name__)

#: The prefix of a torchvision detector's name.
PREFIX = "torchvision:"
#: COCO category id of a person in torchvision's detection labels.
COCO_PERSON_LABEL = 1


@dataclass(frozen=True)
class DetectorSpec:
    """One torchvision detector: its builder and weights enum (names in ``torchvision.models.detection``)."""

    builder: str
    weights: str

    def weights_enum(self):
        """The ``DEFAULT`` member of the weights enum (url, ``meta["_metrics"]``)."""
        import torchvision.models.detection as tvd
        return getattr(tvd, self.weights).DEFAULT


#: The torchvision detectors by name.
TORCHVISION_DETECTORS: dict[str, DetectorSpec] = {
    "fasterrcnn_v2": DetectorSpec("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights"),
    "retinanet": DetectorSpec("retinanet_resnet50_fpn_v2", "RetinaNet_ResNet50_FPN_V2_Weights"),
    "fcos": DetectorSpec("fcos_resnet50_fpn", "FCOS_ResNet50_FPN_Weights"),
    "ssdlite": DetectorSpec("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights"),
}


def detector_names() -> list[str]:
    """The valid ``torchvision:NAME`` strings."""
    return [PREFIX + n for n in TORCHVISION_DETECTORS]


def is_torchvision_name(text) -> bool:
    """True for a string that starts with ``torchvision:`` (valid or not: :func:`parse_name` checks)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def parse_name(text: str) -> str:
    """``torchvision:NAME`` (or ``NAME``) → ``NAME``; :class:`EstimatorError` listing the valid names otherwise."""
    name = str(text).removeprefix(PREFIX)
    if name not in TORCHVISION_DETECTORS:
        raise EstimatorError(f"unknown detector {text!r}; valid: centernet, {', '.join(detector_names())}")
    return name


def weights_file(name: str) -> tuple[Path, str]:
    """Where torchvision keeps ``name``'s COCO weights (``torch.hub.get_dir()/checkpoints/<url basename>``,
    read now: ``TORCH_HOME`` counts) and the url it comes from."""
    url = TORCHVISION_DETECTORS[parse_name(name)].weights_enum().url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url), url


def fetch_weights(name: str, progress: bool = True) -> Path:
    """The cached COCO weights of ``name``, downloaded into torchvision's cache when missing. Raises
    :class:`EstimatorError` (one line: the file torchvision expects and the folder to put it in) when the file
    is missing and cannot be downloaded."""
    path, url = weights_file(name)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    hash_match = torch.hub.HASH_REGEX.search(path.name)
    log.info("downloading the %s COCO weights %s into %s", name, url, path.parent)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_match.group(1) if hash_match else None, progress)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError, timeouts and HTTP errors are OSErrors
        raise EstimatorError(
            f"{PREFIX}{parse_name(name)}: its COCO weights {path.name} are not in torchvision's cache "
            f"{path.parent} and could not be downloaded from {url} ({type(exc).__name__}: {exc}); on a machine "
            f"without internet, download that file elsewhere and put it in {path.parent} (or set TORCH_HOME to a "
            f"folder whose hub/checkpoints holds it)") from None
    return path


class TorchvisionPersonDetector(nn.Module):
    """A torchvision COCO detector kept to people (module docstring). ``model`` is the torchvision module;
    ``name`` its short name (:data:`TORCHVISION_DETECTORS`); ``weights_path`` the weight file it was loaded from
    (None: random weights)."""

    def __init__(self, name: str, model: nn.Module, weights_path: Path | None = None) -> None:
        super().__init__()
        self.name = parse_name(name)
        self.model = model
        self.weights_path = weights_path

    def identity_file(self) -> dict:
        """``{"file", "sha256"}`` of the weights as a result's ``model.files.detector`` carries them
        (``torchvision:NAME`` and no hash for random weights)."""
        if self.weights_path is None:
            return {"file": PREFIX + self.name, "sha256": None}
        from ..bundle import sha256_file
        return {"file": self.weights_path.name, "sha256": sha256_file(self.weights_path)}

    def forward(self, images_rgb01: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """torchvision's detection outputs (``boxes`` xyxy px, ``labels``, ``scores``) of ``(3, H, W)`` RGB
        tensors in [0, 1]."""
        return self.model(images_rgb01)

    @torch.no_grad()
    def detect(self, image_bgr: np.ndarray, score_thresh: float = 0.3, nms_iou: float | None = 0.7
               ) -> PersonDetections:
        """People in one ``(H, W, 3)`` uint8 BGR image: boxes ``[x1, y1, x2, y2]`` image px and scores, best
        first (module docstring)."""
        param = next(self.model.parameters())
        x = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).to(param.device)
        x = x.permute(2, 0, 1).to(param.dtype).div_(255.0)
        was_training = self.model.training
        self.model.eval()
        try:
            out = self([x])[0]
        finally:
            self.model.train(was_training)
        return person_detections(out, score_thresh, nms_iou)


def person_detections(output: dict[str, torch.Tensor], score_thresh: float, nms_iou: float | None
                      ) -> PersonDetections:
    """One torchvision detection output → :class:`PersonDetections`: label :data:`COCO_PERSON_LABEL` only,
    scores > ``score_thresh``, IoU-NMS at ``nms_iou`` (None: none), best first."""
    boxes = output["boxes"].detach().float().cpu()
    scores = output["scores"].detach().float().cpu()
    keep = (output["labels"].detach().cpu() == COCO_PERSON_LABEL) & (scores > score_thresh)
    boxes, scores = boxes[keep], scores[keep]
    order = (nms(boxes, scores, float(nms_iou)) if nms_iou is not None and len(boxes)
             else torch.argsort(scores, descending=True, stable=True))
    return PersonDetections(boxes[order].numpy().astype(np.float32), scores[order].numpy().astype(np.float32))


def build_torchvision_detector(name: str, weights: str | None = "DEFAULT", progress: bool = True,
                               **kwargs) -> TorchvisionPersonDetector:
    """``torchvision:NAME`` (or ``NAME``) as a :class:`TorchvisionPersonDetector`.

    ``weights="DEFAULT"``: the COCO weights from torchvision's cache (:func:`fetch_weights`: downloaded once
    when missing; one clear error offline). ``weights=None``: random weights, nothing read or downloaded (no
    ImageNet backbone either). ``kwargs`` go to the torchvision builder (e.g. ``min_size``/``max_size`` px of
    the R-CNN-style models' resize).
    """
    import torchvision.models.detection as tvd

    from ..checkpoint import load_weights
    short = parse_name(name)
    if weights not in ("DEFAULT", None):
        raise EstimatorError(f"{PREFIX}{short}: weights must be 'DEFAULT' (torchvision's COCO weights) or None "
                             f"(random), got {weights!r}")
    spec = TORCHVISION_DETECTORS[short]
    path = fetch_weights(short, progress) if weights == "DEFAULT" else None
    model = getattr(tvd, spec.builder)(weights=None, weights_backbone=None, num_classes=91, **kwargs)
    if path is not None:
        load_weights(model, path)
    return TorchvisionPersonDetector(short, model.eval(), path)


__all__ = ["COCO_PERSON_LABEL", "PREFIX", "TORCHVISION_DETECTORS", "DetectorSpec", "TorchvisionPersonDetector",
           "build_torchvision_detector", "detector_names", "fetch_weights", "is_torchvision_name", "parse_name",
           "person_detections", "weights_file"]
