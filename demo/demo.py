"""`python demo/demo.py`: the same program as `posenet3d demo` (see posenet3d/commands/demo.py or --help)."""
import sys

from posenet3d.commands.demo import main

if __name__ == "__main__":
    sys.exit(main(prog="demo/demo.py"))
