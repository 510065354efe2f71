"""`python main/train.py`: the same program as `posenet3d train` (see posenet3d/commands/train.py or --help)."""
import sys

from posenet3d.commands.train import main

if __name__ == "__main__":
    sys.exit(main(prog="main/train.py"))
