"""``posenet3d <command> …``: one entry point for the toolkit's programs (also ``python -m posenet3d``).

Each command is a module of :mod:`posenet3d.commands` with ``main(argv, prog) -> exit code``; ``posenet3d
<command> --help`` shows its options and examples. An unknown command exits with code 2 and one line.
"""
from __future__ import annotations

import importlib
import sys

#: command → (module under posenet3d.commands, one-line summary). Two-word commands are groups.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train PoseNet, RootNet or CenterNet as a config says (CPU, GPUs, torchrun)"),
    "test": ("test", "evaluate a snapshot or published weights on the config's test set"),
    "demo": ("demo", "images, folders or videos → overlays, 3D views and JSON of every person"),
    "pool": ("pool", "pre-render a training set's people into a small-image sample pool"),
    "synth": ("synth", "generate the synthetic world (MuCo / MuPoTS / COCO layouts)"),
    "export-bvh": ("export_bvh", "a video's tracks file → one BVH animation per track (Blender, Unity)"),
    "plot-log": ("plot_log", "training curves (losses, lr, evaluation figures) of one or more runs as a PNG"),
    "eval-video": ("eval_video", "tracking (MOTA, IDF1, ID switches) and 3D smoothing on clips with ground truth"),
    "eval-e2e": ("eval_e2e", "whole-pipeline recall / precision / MRPE / MPJPE of a bundle on a test set"),
    "tune-detector": ("tune_detector", "precision / recall per detector score threshold"),
    "export": ("export", "a bundle's or published weights' three networks to ONNX (fp32, int8) for ORT/OpenVINO"),
    "bundle make": ("bundle_make", "put three trained networks into an estimator bundle"),
    "bundle to-snapshot": ("bundle_to_snapshot", "a bundle's network as a training snapshot (to continue)"),
    "bench data": ("bench.data", "training-sample pipeline speed"),
    "bench train": ("bench.train", "PoseNet training throughput per variant"),
    "bench detector": ("bench.detector", "CenterNet inference speed per architecture"),
    "bench e2e": ("bench.e2e", "end-to-end estimator latency per number of people"),
    "bench throughput": ("bench.throughput", "images/s over a folder: per-image loop vs throughput mode"),
    "bench synth": ("bench.synth", "synthetic-world generation speed"),
    "bench viewer": ("bench.viewer", "a video's 3D page: size, build time, load time in headless Chromium"),
    "gpu-check": ("gpu_check", "verify training (DDP/NCCL, AMP, interruptions) and inference on this machine's GPUs"),
}


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    rows = "\n".join(f"  {c:<{width}}  {summary}" for c, (_, summary) in COMMANDS.items())
    return (f"usage: posenet3d <command> [options]   (posenet3d <command> --help for each)\n\ncommands:\n{rows}\n\n"
            "examples:\n  posenet3d train --cfg cfg/synthetic_posenet_quick.yaml\n"
            "  posenet3d test --test_epoch 24\n  posenet3d gpu-check\n")


def _resolve(args: list[str]) -> tuple[str, list[str]] | None:
    """(command, its arguments) for the longest command name ``args`` starts with."""
    for words in (2, 1):
        name = " ".join(args[:words])
        if len(args) >= words and name in COMMANDS:
            return name, args[words:]
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    found = _resolve(args)
    if found is None:
        group = [c for c in COMMANDS if c.split()[0] == args[0]]
        choices = ", ".join(group) if group else ", ".join(dict.fromkeys(c.split()[0] for c in COMMANDS))
        what = " ".join(args[:2]) if group else args[0]
        print(f"error: unknown command {what!r}; choose one of: {choices}", file=sys.stderr)
        return 2
    name, rest = found
    module = importlib.import_module(f"posenet3d.commands.{COMMANDS[name][0]}")
    return int(module.main(rest, prog=f"posenet3d {name}"))


if __name__ == "__main__":
    sys.exit(main())
