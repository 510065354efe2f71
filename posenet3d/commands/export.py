"""Export an estimator's three networks (CenterNet detector, RootNet, PoseNet) to ONNX for ONNX Runtime / OpenVINO.

    posenet3d export demo/model --into-bundle
    posenet3d export demo/model --out exported/ --int8 --calib-images 32
    posenet3d export --files ctdet_coco_resdcn18.pth snapshot_rootnet.pth.tar snapshot_posenet.pth.tar \\
        --out exported/

The source is a bundle folder, or with ``--files DETECTOR ROOTNET POSENET`` the published weights
(``Estimator.from_files``: a CenterNet ctdet COCO checkpoint of ``--detector-arch`` and the 3DMPPE ResNet-50
RootNet/PoseNet). Writes ``centernet.onnx``, ``rootnet.onnx`` and ``posenet.onnx`` (fp32, opset 19, dynamic batch,
the input convention and output meanings in each file's metadata: docs/deploy.md) to ``--out`` or, with
``--into-bundle``, into the bundle folder next to the torch weights, where ``Estimator.from_bundle(...,
backend="onnxruntime")`` finds them. ``--int8`` also writes ``*.int8.onnx``: ONNX Runtime static quantisation
calibrated on ``--calib-images`` synthetic training-world images. Every file is written atomically; each export
is checked against torch on a random batch before it is written (``--tolerance``, heatmap units / mm).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from posenet3d.checkpoint import CheckpointError
from posenet3d.commands import command_parser
from posenet3d.estimator import BUNDLE_PARTS, Estimator, EstimatorError


def _check(part: str, net, data: bytes, est: Estimator, tol: float) -> float:
    """Largest |ONNX Runtime − torch| of the export's outputs on a random batch of 3."""
    from posenet3d.runtime import make_runner
    size = est.det_input_size if part == "detector" else (est.root_codec if part == "rootnet"
                                                           else est.pose_codec).input_shape[0]
    runner, _ = make_runner(part, net, "onnxruntime", onnx=data, input_size=size)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, size, size, generator=g)
    args = (x, torch.tensor([[3000.0], [4500.0], [6000.0]])) if part == "rootnet" else (x,)
    with torch.inference_mode():
        a, b = net(*args), runner(*args)
    if part == "detector":
        a, b = torch.cat([v.flatten() for v in a.values()]), torch.cat([v.flatten() for v in b.values()])
    if part == "rootnet":  # depth in mm: its own tolerance (0.5 mm); x, y in heatmap units
        depth = float((a[:, 2] - b[:, 2]).abs().max())
        if not depth <= 0.5:
            raise EstimatorError(f"rootnet: the ONNX export's depth differs from torch by {depth:.3g} mm (> 0.5 mm)")
        a, b = a[:, :2], b[:, :2]
    err = float((a.float() - b).abs().max())
    if not err <= tol:
        raise EstimatorError(f"{part}: the ONNX export differs from torch by {err:.3g} (> {tol:g}); not written")
    return err


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("bundle", nargs="?", help="estimator bundle folder")
    p.add_argument("--files", nargs=3, metavar=("DETECTOR", "ROOTNET", "POSENET"),
                   help="published weight files instead of a bundle")
    p.add_argument("--detector-arch", default="resdcn_18", help="the --files detector's arch (default resdcn_18)")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--into-bundle", action="store_true", help="write into the bundle folder")
    p.add_argument("--int8", action="store_true", help="also write int8 (static quantisation) files")
    p.add_argument("--calib-images", type=int, default=32, help="synthetic images for int8 calibration")
    p.add_argument("--tolerance", type=float, default=1e-3, help="largest allowed |ONNX − torch| on a test batch")
    args = p.parse_args(argv)
    if (args.bundle is None) == (args.files is None):
        p.error("give a bundle folder or --files DETECTOR ROOTNET POSENET (one of them)")
    if args.into_bundle == (args.out is not None):
        p.error("give --out DIR or --into-bundle (one of them)")
    if args.into_bundle and args.bundle is None:
        p.error("--into-bundle needs a bundle folder")
    if args.calib_images < 1:
        p.error("--calib-images must be >= 1")
    from posenet3d.export import ONNX_FILES, ONNX_INT8_FILES, export_onnx
    from posenet3d.fileio import write_bytes_atomic
    try:
        from posenet3d.runtime import require
        require("onnx")
        require("onnxruntime")
        est = (Estimator.from_bundle(args.bundle) if args.bundle else
               Estimator.from_files(*args.files, detector_arch=args.detector_arch))
        out = Path(args.bundle) if args.into_bundle else args.out
        sizes = {"detector": est.det_input_size, "rootnet": est.root_codec.input_shape[0],
                 "posenet": est.pose_codec.input_shape[0]}
        files = est.identity["files"] if est.identity else {}
        data = {}
        for part in BUNDLE_PARTS:
            net = getattr(est, part)
            data[part] = export_onnx(part, net, sizes[part], joint_set=est.joint_set.name,
                                     source_sha256=(files.get(part) or {}).get("sha256"))
            err = _check(part, net, data[part], est, args.tolerance)
            print(f"{part}: exported, max |ONNX Runtime − torch| on a random batch {err:.2e}"
                  f"{' heatmap units' if part != 'detector' else ''}")
        written = {out / ONNX_FILES[part]: d for part, d in data.items()}
        if args.int8:
            from posenet3d.quantize import calibration_inputs, quantize_int8
            feeds = calibration_inputs(est, args.calib_images)
            for part in BUNDLE_PARTS:
                written[out / ONNX_INT8_FILES[part]] = quantize_int8(data[part], feeds[part], part)
                print(f"{part}: int8, calibrated on {len(feeds[part])} batches from {args.calib_images} images")
        out.mkdir(parents=True, exist_ok=True)
        for path, d in written.items():
            write_bytes_atomic(path, d)
            print(f"wrote {path} ({len(d) / 1e6:.1f} MB)")
    except (EstimatorError, CheckpointError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
