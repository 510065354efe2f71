"""The one atomic writer: every file posenet3d writes appears complete under its final name, or not at all.

:func:`atomic_path` yields a temporary path in the destination folder (so the final ``os.replace`` is a rename
on one file system); the caller writes it with any library (``torch.save``, ``h5py``, ``cv2``, ...). On success
the data are flushed to disk (``fsync``) and the file replaces the destination; on any error, including an
interrupt, the temporary file is removed and an existing destination stays as it was. Temporary names start
with ``.<name>.`` and end with ``.tmp``, so they are hidden and recognisable as leftovers of a killed process.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is synced and replaces ``path`` (with permissions
    ``mode``), on error it is removed. The parent folder is created if needed.

    Use: ``with atomic_path(p) as tmp: write(tmp)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, mode)  # mkstemp makes the file private (0600)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = None) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (compact unless ``indent``); returns the path."""
    separators = None if indent is not None else (",", ":")
    return write_text_atomic(path, json.dumps(obj, indent=indent, separators=separators))
