"""Package three trained networks into an estimator bundle (the format ``Estimator.from_bundle`` reads).

    posenet3d bundle make --detector cfg/synthetic_centernet.yaml:PATH --rootnet cfg/synthetic_rootnet.yaml:PATH \\
        --posenet cfg/synthetic_posenet.yaml:PATH --out demo/model

Each argument is ``CONFIG:SNAPSHOT``, or for the detector ``torchvision:NAME`` (one of torchvision's COCO
detectors, built from torchvision's cache when the bundle is loaded; docs/models.md); weights are stored in
fp16 (``--dtype float32`` to keep them as trained).
``--det-thresh`` / ``--det-nms-iou`` / ``--det-input-size`` / ``--det-flip-test`` / ``--det-keep-aspect`` store
detector settings with the
bundle (the bundled model's command is in README "Results"). ``--name``, ``--model-version`` and ``--domain``
record what the networks are (``estimator.yaml`` ``model``, carried into every result's JSON).
"""
from __future__ import annotations

import sys

import torch

from posenet3d.checkpoint import CheckpointError, load_weights
from posenet3d.commands import command_parser
from posenet3d.config import ConfigError, load_config
from posenet3d.estimator import MODEL_DOMAINS, EstimatorError, save_bundle
from posenet3d.tasks import get_task


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    for part in ("detector", "rootnet", "posenet"):
        p.add_argument(f"--{part}", required=True, metavar="CONFIG:SNAPSHOT")
    p.add_argument("--out", default="demo/model")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    p.add_argument("--det-thresh", type=float, default=None, help="stored detector score threshold")
    p.add_argument("--det-nms-iou", type=float, default=None, help="stored detector box-NMS IoU")
    p.add_argument("--det-input-size", type=int, default=None,
                   help="stored detector input side in px (default: the detector config's input_size)")
    p.add_argument("--det-flip-test", action="store_true",
                   help="store det_flip_test: the detector averages its maps over the mirrored image (2x its time)")
    p.add_argument("--det-keep-aspect", action="store_true",
                   help="store det_keep_aspect: the detector runs on a canvas of the image's shape, not the square")
    p.add_argument("--name", default=None, help="the model's name (default: the --out folder's name)")
    p.add_argument("--model-version", default=None, help="the model's version (default: none)")
    p.add_argument("--domain", choices=MODEL_DOMAINS, default="own",
                   help="what the networks were trained on (default: own)")
    args = p.parse_args(argv)
    cfgs, models = {}, {}
    try:
        for part in ("detector", "rootnet", "posenet"):
            if part == "detector" and args.detector.startswith("torchvision:"):
                cfgs[part] = args.detector
                continue
            cfg_path, _, weights = getattr(args, part).partition(":")
            cfg = load_config(cfg_path)
            model = get_task(cfg.model.task).build_model(cfg, for_training=False)
            load_weights(model, weights)
            cfgs[part], models[part] = cfg, model
        options = {k: v for k, v in (("det_score_thresh", args.det_thresh), ("det_nms_iou", args.det_nms_iou),
                                                   ("det_input_size", args.det_input_size),
                                                   ("det_flip_test", args.det_flip_test or None),
                                                   ("det_keep_aspect", args.det_keep_aspect or None))
                   if v is not None}
        info = save_bundle(args.out, cfgs, models, dtype=getattr(torch, args.dtype), options=options,
                           name=args.name, version=args.model_version, domain=args.domain)
    except (ConfigError, CheckpointError, EstimatorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in info.files.items())
    print(f"wrote {info.folder}: {info.total_bytes / 1e6:.1f} MB ({sizes})")
    return 0
