"""The three networks of an estimator as ONNX graphs: what each graph computes, its input convention in the file's
metadata, and the check that a file is the network a caller expects.

What is exported (the decode split is deliberate, so that every backend shares one decode in numpy/torch):

* **detector** (CenterNet): input ``image (B, 3, H, W)`` — the letterboxed **BGR** image scaled to [0, 1] and
  normalised by the COCO mean/std (:mod:`posenet3d.detection.pipeline`); outputs the raw head maps at stride 4
  (``hm`` logits, ``wh`` and ``reg`` in output px). Peak finding and box decoding stay outside the graph.
  ``resdcn_*`` detectors carry their modulated deformable convolutions as the ONNX ``DeformConv`` operator
  (opset 19), mapped from ``torchvision::deform_conv2d`` by :func:`register_deform_conv`.
* **rootnet**: inputs ``image (B, 3, H, W)`` — the **RGB** crop on the 0–255 scale normalised by the ImageNet
  mean/std as they are (:mod:`posenet3d.preprocess`) — and ``k_value (B, 1)`` mm; output ``root (B, 3)`` =
  ``[x_hm, y_hm, Z_root mm]`` (the 2D soft-argmax is inside the graph).
* **posenet**: input ``image`` as RootNet's; outputs ``coords (B, J, 3)`` in heatmap units (x, y in 0..W/4-1,
  z in 0..depth_dim-1: the 3D soft-argmax is inside the graph) and ``confidence (B, J)`` in [0, 1]
  (:func:`posenet3d.nets.heads.mass_near`). The flip test stays outside (the mirrored crops are a second half of
  the batch, merged by :func:`posenet3d.posenet.model.flip_merge`).

The batch axis is dynamic in every graph (and the detector's H and W). Each file's ``metadata_props`` record
``posenet3d.network`` (detector / rootnet / posenet), the input colour order, scale, mean and std, the input
size, the joint count and set, depth bins, the detector heads, the output meanings, the precision and the
SHA-256 of the torch weights it came from (when known); :func:`check_metadata` compares them with what a caller
needs and raises :class:`~posenet3d.camera.EstimatorError` naming the file and the mismatch.
"""
from __future__ import annotations

import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .camera import EstimatorError

log = logging.getLogger(__name__)

OPSET = 19
META_FORMAT = "posenet3d-onnx-1"
#: The ONNX file name of each bundle part (written next to the torch weights by ``posenet3d export --into-bundle``).
ONNX_FILES = {"detector": "centernet.onnx", "rootnet": "rootnet.onnx", "posenet": "posenet.onnx"}
ONNX_INT8_FILES = {part: name.replace(".onnx", ".int8.onnx") for part, name in ONNX_FILES.items()}
_registered = False


def register_deform_conv() -> None:
    """Map ``torchvision::deform_conv2d`` to the ONNX ``DeformConv`` operator (opset 19) in torch's TorchScript
    exporter (torchvision registers no symbolic for it). Idempotent."""
    global _registered
    if _registered:
        return
    from torch.onnx import symbolic_helper as sh

    @sh.parse_args("v", "v", "v", "v", "v", "i", "i", "i", "i", "i", "i", "i", "i", "b")
    def deform_conv2d(g, x, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                      groups, offset_groups, use_mask):
        inputs = [x, weight, offset, bias] + ([mask] if use_mask else [])
        return g.op("DeformConv", *inputs, strides_i=[stride_h, stride_w], pads_i=[pad_h, pad_w, pad_h, pad_w],
                    dilations_i=[dil_h, dil_w], group_i=groups, offset_group_i=offset_groups)

    torch.onnx.register_custom_op_symbolic("torchvision::deform_conv2d", deform_conv2d, OPSET)
    _registered = True


class _DetectorGraph(nn.Module):
    """A CenterNet whose dict output becomes a tuple in head order (ONNX outputs are positional)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor):
        out = self.net(image)
        return tuple(out[name] for name in self.net.heads)


class _PoseGraph(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor):
        return self.net(image, return_confidence=True)


def network_metadata(part: str, net: nn.Module, input_size: int, *, joint_set: str | None = None,
                     source_sha256: str | None = None, precision: str = "fp32") -> dict[str, str]:
    """The ``metadata_props`` of one exported network (module docstring); every value a string."""
    from .detection.pipeline import COCO_MEAN_BGR, COCO_STD_BGR
    from .preprocess import IMAGENET_MEAN, IMAGENET_STD
    meta = {"posenet3d.format": META_FORMAT, "posenet3d.network": part, "precision": precision,
            "input_size": str(int(input_size))}
    if part == "detector":
        meta.update({"arch": net.arch, "heads": json.dumps(net.heads), "input_color": "BGR",
                     "input_scale": "0..1", "input_mean": json.dumps(list(COCO_MEAN_BGR)),
                     "input_std": json.dumps(list(COCO_STD_BGR)),
                     "outputs": "raw CenterNet maps at stride 4 in head order " + ", ".join(net.heads)
                                + ": hm = centre logits (sigmoid outside), wh = box size and reg = sub-pixel "
                                  "offset in output px"})
    else:
        meta.update({"input_color": "RGB", "input_scale": "0..255", "input_mean": json.dumps(list(IMAGENET_MEAN)),
                     "input_std": json.dumps(list(IMAGENET_STD))})
        if part == "rootnet":
            meta["outputs"] = "root (B, 3) = [x_hm, y_hm, Z_root mm]; inputs image and k_value (B, 1) mm"
        else:
            meta.update({"joint_num": str(net.joint_num), "depth_dim": str(net.depth_dim),
                         "outputs": "coords (B, J, 3) heatmap units (x, y < input/4, z < depth_dim; soft-argmax "
                                    "inside), confidence (B, J) in [0, 1]"})
            if joint_set:
                meta["joint_set"] = joint_set
    if source_sha256:
        meta["source_sha256"] = source_sha256
    return meta


def export_onnx(part: str, net: nn.Module, input_size: int, path: str | os.PathLike | None = None, *,
                joint_set: str | None = None, source_sha256: str | None = None) -> bytes:
    """Export one network (``part``: detector / rootnet / posenet) in fp32 to ONNX (opset 19, dynamic batch) with
    its metadata; returns the file's bytes and, with ``path``, also writes them there atomically.
    ``input_size``: the side (px) of the example input (the detector's H and W stay dynamic)."""
    import onnx

    from .fileio import write_bytes_atomic
    register_deform_conv()
    net = net.float().eval()
    net = net.to(memory_format=torch.contiguous_format)
    x = torch.zeros(2, 3, input_size, input_size)
    if part == "detector":
        graph, args, names, outs = _DetectorGraph(net), (x,), ["image"], list(net.heads)
        axes = {"image": {0: "batch", 2: "height", 3: "width"}, **{h: {0: "batch", 2: "h_out", 3: "w_out"}
                                                                    for h in outs}}
    elif part == "rootnet":
        graph, args, names, outs = net, (x, torch.full((2, 1), 4000.0)), ["image", "k_value"], ["root"]
        axes = {"image": {0: "batch"}, "k_value": {0: "batch"}, "root": {0: "batch"}}
    elif part == "posenet":
        graph, args, names, outs = _PoseGraph(net), (x,), ["image"], ["coords", "confidence"]
        axes = {"image": {0: "batch"}, "coords": {0: "batch"}, "confidence": {0: "batch"}}
    else:
        raise EstimatorError(f"unknown network {part!r}; choose detector, rootnet or posenet")
    graph.eval()  # a fresh wrapper is in training mode, and the exporter restores that mode on the network after
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape checks evaluated once
        torch.onnx.export(graph, args, buf, opset_version=OPSET, dynamo=False, input_names=names, output_names=outs,
                          dynamic_axes=axes, do_constant_folding=True)
    net.eval()
    model = onnx.load_from_string(buf.getvalue())
    set_metadata(model, network_metadata(part, net, input_size, joint_set=joint_set, source_sha256=source_sha256))
    data = model.SerializeToString()
    if path is not None:
        write_bytes_atomic(path, data)
    return data


def set_metadata(model, meta: dict[str, str]) -> None:
    """Replace ``model.metadata_props`` keys by ``meta``'s (an ``onnx.ModelProto``)."""
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    for k, v in [*keep, *meta.items()]:
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)


def read_metadata(model_or_path) -> dict[str, str]:
    """``metadata_props`` of an ONNX file (path or bytes or ``ModelProto``) as a dict."""
    import onnx
    if isinstance(model_or_path, (str, os.PathLike)):
        model = onnx.load(str(model_or_path), load_external_data=False)
    elif isinstance(model_or_path, bytes):
        model = onnx.load_from_string(model_or_path)
    else:
        model = model_or_path
    return {p.key: p.value for p in model.metadata_props}


def check_metadata(meta: dict[str, str], source: str, part: str, *, input_size: int | None = None,
                   joint_num: int | None = None, depth_dim: int | None = None,
                   heads: dict[str, int] | None = None) -> None:
    """Raise :class:`EstimatorError` naming ``source`` when the metadata is not the network ``part`` with the
    given input size, joint count, depth bins and detector heads (None: not checked)."""
    if meta.get("posenet3d.format") != META_FORMAT:
        raise EstimatorError(f"{source}: not a posenet3d ONNX export (metadata posenet3d.format is "
                             f"{meta.get('posenet3d.format')!r}, expected {META_FORMAT!r}); write it with "
                             f"posenet3d export")
    if meta.get("posenet3d.network") != part:
        raise EstimatorError(f"{source}: holds the {meta.get('posenet3d.network')} network, expected the {part}")
    checks = {"detector": [], "rootnet": [("input_size", input_size)],
              "posenet": [("input_size", input_size), ("joint_num", joint_num), ("depth_dim", depth_dim)]}[part]
    for key, want in checks:
        if want is not None and meta.get(key) != str(int(want)):
            raise EstimatorError(f"{source}: {key} is {meta.get(key)}, but the {part} needs {want}")
    if heads is not None and part == "detector" and json.loads(meta.get("heads", "{}")) != dict(heads):
        raise EstimatorError(f"{source}: detector heads {meta.get('heads')}, but the detector needs "
                             f"{json.dumps(dict(heads))}")


def bundle_onnx_files(folder: str | os.PathLike, precisions: dict[str, str]) -> dict[str, Path]:
    """The bundle folder's ONNX file of each part at its precision (``*.int8.onnx`` for int8, else the fp32
    file), for the parts that have one."""
    out = {}
    for part, precision in precisions.items():
        path = Path(folder) / (ONNX_INT8_FILES if precision == "int8" else ONNX_FILES)[part]
        if path.is_file():
            out[part] = path
    return out


__all__ = ["ONNX_FILES", "ONNX_INT8_FILES", "OPSET", "bundle_onnx_files", "check_metadata", "export_onnx",
           "network_metadata", "read_metadata", "register_deform_conv", "set_metadata"]
