"""Train PoseNet, RootNet or the CenterNet detector, as the config says.

A SIGTERM (as SLURM sends before a kill) or Ctrl-C stops the run at a safe point, names the last good
snapshot and the command that continues it, and exits with 143 / 130.

Examples:
  python main/train.py --cfg cfg/synthetic_posenet_quick.yaml            # CPU, the synthetic world
  python main/train.py --gpu 0-3                                         # paper MuPoTS setup, 4 GPUs
  python main/train.py --gpu 0-3 --continue                              # resume the latest snapshot
  python main/train.py --cfg cfg/h36m_p2_posenet.yaml train.lr=5e-4      # override config values
  torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr HOST --master_port 29500 \\
      main/train.py --cfg cfg/muco_posenet.yaml --gpu 0-7                # multi-node (run on every node)
"""
from __future__ import annotations

import shlex
import sys

from posenet3d.checkpoint import CheckpointError
from posenet3d.commands import command_parser
from posenet3d.config import ConfigError, load_config
from posenet3d.datasets.base import DatasetError
from posenet3d.distributed import GpuSpecError, parse_gpus
from posenet3d.engine import TrainingError, train
from posenet3d.stopping import TrainingInterrupted

DEFAULT_CFG = "cfg/muco_posenet.yaml"


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--cfg", default=DEFAULT_CFG, help=f"experiment YAML (default: {DEFAULT_CFG})")
    p.add_argument("--gpu", default=None, help="GPU ids: '0', '0-3' or '0,2'; leave out to train on the CPU")
    p.add_argument("--cpu-processes", type=int, default=1, metavar="N",
                   help="without --gpu: N CPU processes with DDP over gloo (default 1)")
    p.add_argument("--continue", dest="resume", action="store_true", help="resume from the latest snapshot")
    p.add_argument("overrides", nargs="*", help="config overrides section.key=value")
    args = p.parse_intermixed_args(argv)
    try:
        gpus = parse_gpus(args.gpu)
        cfg = load_config(args.cfg, args.overrides)
        if args.cpu_processes < 1:
            raise GpuSpecError(f"--cpu-processes {args.cpu_processes}: give 1 or more")
        train(cfg, gpus, resume=args.resume, cpu_processes=args.cpu_processes)
    except (ConfigError, DatasetError, GpuSpecError, CheckpointError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"{exc}; continue with: {continue_command(argv, prog)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted twice: stopped at once (a snapshot being written was discarded); continue with: "
              f"{continue_command(argv, prog)}", file=sys.stderr)
        return 130
    return 0


def continue_command(argv: list[str] | None, prog: str | None) -> str:
    """This command line with ``--continue`` (the way to resume the run)."""
    args = list(sys.argv[1:] if argv is None else argv)
    head = ["python", prog] if prog and prog.endswith(".py") else shlex.split(prog or "posenet3d train")
    return shlex.join([*head, *args, *([] if "--continue" in args else ["--continue"])])
