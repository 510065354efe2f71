"""The demo's output folder: outputs written as a set, never over an input or a file the demo did not write."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from posenet3d.bundle import sha256_file
from posenet3d.fileio import atomic_paths
from posenet3d.media import InputItem

RECORD_FILE = ".posenet3d-outputs.json"
RECORD_FORMAT = "posenet3d-demo-outputs"


class OutputRefused(ValueError):
    """An input's outputs would replace an input of the run or a file the demo did not write."""


class OutputFolder:
    """The output folder, with the record of the files the demo wrote there (:data:`RECORD_FILE`: name →
    SHA-256). A file counts as the demo's own while its bytes are those recorded; only such files are replaced
    (any other with ``overwrite``), and never an input of the run."""

    def __init__(self, folder: Path, inputs: set[Path], overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.record_path = self.folder / RECORD_FILE
        self.inputs = inputs
        self.overwrite = overwrite
        self.written = self._read_record()

    def _read_record(self) -> dict[str, str]:
        try:
            files = json.loads(self.record_path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # none or unreadable: nothing here counts as the demo's own (the safe side)
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}

    def owns(self, path: Path) -> bool:
        """Whether ``path`` (in this folder) is a file the demo wrote and nobody changed since."""
        path = Path(path)
        if path.parent.resolve() != self.folder.resolve() or path.name not in self.written or not path.is_file():
            return False
        return sha256_file(path) == self.written[path.name]

    def check(self, item: InputItem, paths: Sequence[Path]) -> None:
        """Raise :class:`OutputRefused` if writing ``paths`` would replace what it must not."""
        for p in paths:
            if p.resolve() in self.inputs:
                raise OutputRefused(f"{item.path}: its output {p} would replace an input of this run; write "
                                    f"the outputs elsewhere (--output)")
            if p.exists() and not p.is_file():
                raise OutputRefused(f"{item.path}: its output {p} exists and is not a file")
            if p.exists() and not self.overwrite and not self.owns(p):
                raise OutputRefused(f"{item.path}: {p} exists and was not written by posenet3d; give "
                                    f"--overwrite to replace it, or another --output")

    @contextmanager
    def writing(self, item: InputItem, paths: Sequence[Path], keep_suffix: bool = False) -> Iterator[list[Path]]:
        """Check ``paths`` (:meth:`check`), then yield temporary paths for them; when the body completes, they
        and the updated record are renamed into place together (:func:`posenet3d.fileio.atomic_paths`), else
        nothing is written."""
        self.check(item, paths)
        with atomic_paths([*paths, self.record_path], keep_suffix=keep_suffix) as temps:
            yield temps[:-1]
            written = dict(self.written)
            written.update({p.name: sha256_file(t) for p, t in zip(paths, temps)})
            doc = {"format": RECORD_FORMAT, "about": "files posenet3d demo wrote in this folder (name: SHA-256); "
                   "it replaces only these, unless --overwrite", "files": dict(sorted(written.items()))}
            temps[-1].write_text(json.dumps(doc, indent=1))
        self.written = written


def plotly_js_paths(out: OutputFolder) -> list[Path]:
    """``[folder/plotly.min.js]`` when a 3D page written there needs it (missing, or another version), else
    ``[]``: plotly.js is written once per output folder and shared by its pages."""
    from posenet3d.viewer import PLOTLY_JS, plotly_js_bytes
    path = out.folder / PLOTLY_JS
    try:
        if path.is_file() and path.read_bytes() == plotly_js_bytes():
            return []
    except OSError:
        pass
    return [path]
