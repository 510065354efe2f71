"""Import the repository's command-line scripts (``main/*.py``, ``demo/demo.py``) as modules for tests."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str) -> ModuleType:
    """The script at ``REPO/relative_path`` as a fresh module (its ``main(argv)`` can then be called)."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(f"cli_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
