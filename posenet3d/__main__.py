"""``python -m posenet3d <command>``: the same as the ``posenet3d`` console command."""
import sys

from posenet3d.cli import main

sys.exit(main())
