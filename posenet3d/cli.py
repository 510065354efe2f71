"""``posenet3d <command> …``: one entry point for the toolkit's programs (also ``python -m posenet3d``).

Each command is a module of :mod:`posenet3d.commands` with ``main(argv, prog) -> exit code``; ``posenet3d
<command> --help`` shows its options and examples. Unknown commands exit with code 2 and one line.
"""
from __future__ import annotations

import importlib
import sys

#: command → (module under posenet3d.commands, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train PoseNet, RootNet or CenterNet as a config says (CPU, GPUs, torchrun)"),
    "test": ("test", "evaluate a snapshot or published weights on the config's test set"),
    "gpu-check": ("gpu_check", "verify training (DDP/NCCL, AMP, interruptions) and inference on this machine's GPUs"),
}


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    rows = "\n".join(f"  {c:<{width}}  {summary}" for c, (_, summary) in COMMANDS.items())
    return (f"usage: posenet3d <command> [options]   (posenet3d <command> --help for each)\n\ncommands:\n{rows}\n\n"
            "examples:\n  posenet3d train --cfg cfg/synthetic_posenet_quick.yaml\n"
            "  posenet3d test --test_epoch 24\n  posenet3d gpu-check\n")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] not in COMMANDS:
        print(f"error: unknown command {args[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"posenet3d.commands.{COMMANDS[args[0]][0]}")
    return int(module.main(args[1:], prog=f"posenet3d {args[0]}"))


if __name__ == "__main__":
    sys.exit(main())
