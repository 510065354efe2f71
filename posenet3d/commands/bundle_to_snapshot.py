"""Turn one network of an estimator bundle into a training snapshot, to continue training or fine-tune it.

    posenet3d bundle to-snapshot --bundle demo/model --part detector --cfg cfg/synthetic_centernet.yaml \\
        --epoch 15 output_dir=/root/runs/centernet3
    python main/train.py --cfg cfg/synthetic_centernet.yaml output_dir=/root/runs/centernet3 model.pretrained=none \\
        --continue train.end_epoch=22

The network is built from ``--cfg`` (plus ``key=value`` overrides, as for main/train.py) and loaded strictly with the
bundle part's weights, widened to fp32 (the values keep their fp16 rounding). A bundle stores no optimizer state,
so the snapshot holds a fresh Adam (moments start at zero) with the config's learning rate and weight decay.
It is written as ``<output_dir>/model_dump/snapshot_{epoch}.pth.tar`` (``--epoch`` is the 0-based epoch it stands
for; ``--continue`` starts at epoch + 1) and never replaces a snapshot that is already there.
"""
from __future__ import annotations

import sys

import torch

from posenet3d.checkpoint import (
    CheckpointError,
    load_weights,
    save_snapshot,
    snapshot_path,
)
from posenet3d.commands import command_parser
from posenet3d.config import ConfigError, config_to_dict, load_config
from posenet3d.estimator import BUNDLE_PARTS, EstimatorError, read_bundle
from posenet3d.runs import run_dirs
from posenet3d.tasks import get_task


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--bundle", default="demo/model", help="bundle folder (holds estimator.yaml)")
    p.add_argument("--part", required=True, choices=list(BUNDLE_PARTS))
    p.add_argument("--cfg", required=True, help="the training config the snapshot will be resumed with")
    p.add_argument("--epoch", type=int, required=True, help="0-based epoch the snapshot stands for (>= 0)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if args.epoch < 0:
        p.error(f"--epoch must be >= 0, got {args.epoch}")
    try:
        cfg = load_config(args.cfg, args.overrides)
        spec = read_bundle(args.bundle)
        if args.part not in spec.cfgs:
            raise EstimatorError(f"{args.bundle}: its {args.part} is {spec.detector}, torchvision's, not a "
                                 f"network of ours to train on")
        bundle_task = spec.cfgs[args.part].task
        if bundle_task != cfg.model.task:
            raise ConfigError(f"{args.cfg}: model.task is {cfg.model.task!r}, but the bundle's {args.part} is a "
                              f"{bundle_task!r} network")
        model = get_task(cfg.model.task).build_model(cfg, for_training=False)
        load_weights(model, spec.paths[args.part])
        model.float()
        out = snapshot_path(run_dirs(cfg)[0], args.epoch)
        if out.exists():
            raise CheckpointError(f"{out} already exists; not replacing it (remove it or choose another "
                                  f"output_dir / --epoch)")
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        save_snapshot(out, {"epoch": args.epoch, "task": cfg.model.task, "network": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "config": config_to_dict(cfg)})
    except (ConfigError, CheckpointError, EstimatorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.part} of {spec.folder}, epoch {args.epoch}; resume with main/train.py --continue)")
    return 0
