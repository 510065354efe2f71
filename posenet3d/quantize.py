"""int8 post-training quantisation of the exported networks with ONNX Runtime's static quantisation.

Calibration data are **synthetic training crops**: images rendered in memory by the synthetic world
(:func:`posenet3d.synth.scene.render_scene`, a calibration seed of its own, so never a test image) and run
through the fp32 estimator; each network records the inputs it is given (the letterboxed detector image, RootNet's
crops with their k, PoseNet's crops with their mirrors), exactly what it will see at test time. Those inputs
feed :func:`onnxruntime.quantization.quantize_static` (QDQ format, per-channel int8 weights, uint8 activations,
MinMax calibration) for the convolutions only (:data:`QUANTIZED_OPS`); the decode inside the graphs and the
``DeformConv`` operators stay fp32. The result keeps the fp32
file's metadata with ``precision`` = ``int8`` and the calibration recorded.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .export import read_metadata, set_metadata
from .runtime import require

log = logging.getLogger(__name__)

CALIBRATION_SEED = 20_161
#: The operators quantised: the convolutions carry nearly all the work; the soft-argmax (softmax, sums,
#: products with index ramps), the depth product γ·k and the deformable convolutions stay fp32.
QUANTIZED_OPS = ("Conv", "ConvTranspose")


class _Recorder(nn.Module):
    """Calls ``net`` and keeps a float32 numpy copy of every call's tensor arguments."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.calls = net, []
        for name in ("joint_num", "depth_dim", "heads", "arch"):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))

    def forward(self, *args, **kwargs):
        feeds = [a.detach().float().cpu().contiguous().numpy() for a in args if isinstance(a, torch.Tensor)]
        if len(feeds) == 2:
            feeds[1] = feeds[1].reshape(-1, 1)
        self.calls.append(feeds)
        return self.net(*args, **kwargs)


def calibration_inputs(estimator, num_images: int = 32, seed: int = CALIBRATION_SEED, size: int = 512, *,
                       images: list[np.ndarray] | None = None,
                       boxes: np.ndarray | None = None) -> dict[str, list[list[np.ndarray]]]:
    """Per part (detector / rootnet / posenet) the input arrays of each network call while the (torch)
    ``estimator`` runs on ``num_images`` synthetic training-world images (module docstring) — or on ``images``
    (BGR arrays) when given; with ``boxes`` (``(N, 4)`` ``[x, y, w, h]`` px) the people stages get those boxes
    instead of the detections (for networks with random weights, which detect nobody)."""
    from .synth.scene import render_scene
    if estimator.backend != "torch":
        raise ValueError("calibration runs the torch estimator (backend torch)")
    if images is None:
        rng = np.random.default_rng(seed)
        images = (render_scene(rng, size=size)[0] for _ in range(num_images))
    saved = {part: getattr(estimator, part) for part in ("detector", "rootnet", "posenet")}
    recorders = {part: _Recorder(net) for part, net in saved.items()}
    try:
        for part, rec in recorders.items():
            setattr(estimator, part, rec)
        for image in images:
            if boxes is None:
                estimator.estimate(image)
            else:
                estimator.detect(image)
                estimator.estimate_from_boxes(image, boxes)
    finally:
        for part, net in saved.items():
            setattr(estimator, part, net)
    return {part: rec.calls for part, rec in recorders.items()}


def quantize_int8(onnx_fp32: bytes, feeds: list[list[np.ndarray]], source: str = "") -> bytes:
    """The int8 (QDQ) version of an fp32 ONNX export (bytes), calibrated on ``feeds`` (one list of input arrays
    per calibration batch, in the graph's input order)."""
    require("onnxruntime")
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    if not feeds:
        raise ValueError(f"{source}: no calibration inputs")
    model = onnx.load_from_string(onnx_fp32)
    names = [i.name for i in model.graph.input]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):
            batch = next(self.it, None)
            return None if batch is None else dict(zip(names, batch))

    with tempfile.TemporaryDirectory(prefix="posenet3d-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_fp32)
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        op_types_to_quantize=list(QUANTIZED_OPS),
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        q = onnx.load(str(dst))
    meta = read_metadata(model)
    meta.update(precision="int8", calibration=f"{len(feeds)} batches of synthetic training-world inputs "
                                              f"(quantize_static QDQ, per-channel int8 weights, uint8 activations, "
                                              f"MinMax; {', '.join(QUANTIZED_OPS)} only)")
    set_metadata(q, meta)
    return q.SerializeToString()


__all__ = ["CALIBRATION_SEED", "QUANTIZED_OPS", "calibration_inputs", "quantize_int8"]
