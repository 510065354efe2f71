"""The command-line programs behind ``posenet3d <command>`` and the scripts in ``main/`` and ``demo/``.

Each module has ``main(argv, prog) -> exit code`` and a docstring that ends with real examples (its ``--help``).
"""
from pathlib import Path

#: The repository root (the bundled model, configs and demo images live there in a clone).
REPO = Path(__file__).resolve().parents[2]
