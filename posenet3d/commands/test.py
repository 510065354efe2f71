"""Evaluate a trained network (PoseNet, RootNet or the CenterNet detector) on the config's test set.

Examples:
  python main/test.py --test_epoch 24                                   # output/model_dump/snapshot_24.pth.tar
  python main/test.py --cfg cfg/synthetic_posenet.yaml --test_epoch best   # the best epoch (train.eval_interval)
  python main/test.py --cfg cfg/muco_posenet.yaml --weights snapshot_24.pth.tar --gpu 0   # published weights
  python main/test.py --cfg cfg/synthetic_posenet_quick.yaml --test_epoch 3 test.flip_test=false

Prints a table and writes output/result/<name>_<tag>.json (+ predictions in HDF5 and dataset files such as
preds_{2d,3d}_kpt_mupots.mat or bbox_root_*_output.json).
"""
from __future__ import annotations

import sys

import torch

from posenet3d.checkpoint import CheckpointError, best_snapshot_path, load_file, snapshot_path
from posenet3d.commands import command_parser
from posenet3d.config import ConfigError, load_config
from posenet3d.datasets.base import DatasetError
from posenet3d.distributed import GpuSpecError, parse_gpus
from posenet3d.engine import load_for_test
from posenet3d.evaluation.report import format_results
from posenet3d.runs import run_dirs, setup_logging
from posenet3d.tasks import get_task

DEFAULT_CFG = "cfg/muco_posenet.yaml"


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--cfg", default=DEFAULT_CFG, help=f"experiment YAML (default: {DEFAULT_CFG})")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--test_epoch", type=_epoch, help="load <output_dir>/model_dump/snapshot_N.pth.tar, or 'best': "
                   "snapshot_best.pth.tar, the best epoch of a run that evaluated while training")
    g.add_argument("--weights", help="any compatible snapshot or state_dict (the published ones included)")
    p.add_argument("--gpu", default=None, help="the GPU to evaluate on; leave out for the CPU. Evaluation runs on "
                   "one GPU: with a list (0-3) the first is used")
    p.add_argument("overrides", nargs="*", help="config overrides section.key=value")
    args = p.parse_intermixed_args(argv)
    try:
        gpus = parse_gpus(args.gpu)
        cfg = load_config(args.cfg, args.overrides)
        model_dump, log_dir = run_dirs(cfg)
        setup_logging(log_dir / "test.log", True)
        if args.test_epoch == "best":
            weights, tag = best_snapshot_path(model_dump), "best"
            if not weights.is_file():
                raise CheckpointError(f"--test_epoch best: {weights} does not exist; training writes it when it "
                                      "evaluates as it goes (train.eval_interval > 0)")
            best = load_file(weights).get("best", {})
            print(f"note: {weights} is epoch {best.get('epoch')} ({best.get('metric')} {best.get('value')})",
                  file=sys.stderr)
        elif args.test_epoch is not None:
            weights, tag = snapshot_path(model_dump, args.test_epoch), f"epoch{args.test_epoch}"
            if not weights.is_file():
                raise CheckpointError(f"--test_epoch {args.test_epoch}: {weights} does not exist "
                                      f"(snapshots in {model_dump}: "
                                      f"{sorted(q.name for q in model_dump.glob('snapshot_*.pth.tar')) or 'none'})")
        else:
            weights, tag = args.weights, "weights"
        if len(gpus) > 1:
            print(f"note: evaluation runs on one GPU; using GPU {gpus[0]} of --gpu {args.gpu}", file=sys.stderr)
        device = torch.device("cuda", gpus[0]) if gpus else torch.device("cpu")
        model = load_for_test(cfg, weights, device)
        results = get_task(cfg.model.task).test(cfg, model, device, tag)
    except (ConfigError, DatasetError, GpuSpecError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_results(results, title=f"{cfg.name} ({cfg.model.task}) on {cfg.data.testset}, {tag}"))
    return 0


def _epoch(text: str) -> int | str:
    """``--test_epoch``: a snapshot's epoch (0 or more) or ``best``."""
    import argparse
    if text.strip().lower() == "best":
        return "best"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an epoch number nor 'best'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value
