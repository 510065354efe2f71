"""`python main/test.py`: the same program as `posenet3d test` (see posenet3d/commands/test.py or --help)."""
import sys

from posenet3d.commands.test import main

if __name__ == "__main__":
    sys.exit(main(prog="main/test.py"))
