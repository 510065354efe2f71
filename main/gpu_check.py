"""`python main/gpu_check.py`: the same program as `posenet3d gpu-check` (see posenet3d/commands/gpu_check.py)."""
import sys

from posenet3d.commands.gpu_check import main

if __name__ == "__main__":
    sys.exit(main(prog="main/gpu_check.py"))
