"""``python -m posenet3d.synth``: the same program as ``posenet3d synth`` (:mod:`posenet3d.commands.synth`)."""
import sys

from posenet3d.commands.synth import main

sys.exit(main(prog="python -m posenet3d.synth"))
