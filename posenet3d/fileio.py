"""The one atomic writer: every file posenet3d writes appears complete under its final name, or not at all.

:func:`atomic_path` yields a temporary path in the destination folder (so the final ``os.replace`` is a rename
on one file system); the caller writes it with any library (``torch.save``, ``h5py``, ``cv2``, ...). On success
the data are flushed to disk (``fsync``) and the file replaces the destination; on any error, including an
interrupt, the temporary file is removed and an existing destination stays as it was. Temporary names start
with ``.<name>.`` and end with ``.tmp``, so they are hidden and recognisable as leftovers of a killed process.

:func:`atomic_paths` does the same for a **set** of files that belong together (a demo input's overlay, figure
and JSON): all are written to temporary paths first, and only when every one is complete are they renamed into
place, so a failure (a full disk) leaves none of the new files and every old one as it was.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "atomic_paths", "write_bytes_atomic", "write_files_atomic", "write_json_atomic",
           "write_text_atomic"]


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
    with atomic_paths([path], mode) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike], mode: int = 0o644, keep_suffix: bool = False
                 ) -> Iterator[list[Path]]:
    """Yield one temporary path next to each of ``paths`` (as :func:`atomic_path`); on success all are synced and
    then renamed into place, on error all are removed and no destination is touched.

    If a rename fails (rare: the files are in their destination folders already), the files already renamed
    are removed too, so the set is never left half new; the error is raised. Destinations must be distinct.
    ``keep_suffix``: temporary names end with ``.tmp<suffix of the destination>`` (for writers that pick the
    format by the extension, as OpenCV's video writer does).
    """
    dests = [Path(p) for p in paths]
    if len({d.resolve() for d in dests}) != len(dests):
        raise ValueError(f"atomic_paths: the destinations are not distinct: {[str(d) for d in dests]}")
    temps: list[Path] = []
    try:
        for d in dests:
            d.parent.mkdir(parents=True, exist_ok=True)
            suffix = f".tmp{d.suffix}" if keep_suffix else ".tmp"
            fd, name = tempfile.mkstemp(prefix=f".{d.name}.", suffix=suffix, dir=d.parent)
            os.close(fd)
            temps.append(Path(name))
        yield list(temps)
        for t in temps:
            os.chmod(t, mode)
            _fsync(t)
    except BaseException:
        for t in temps:
            t.unlink(missing_ok=True)
        raise
    done: list[Path] = []
    try:
        for t, d in zip(temps, dests):
            os.replace(t, d)
            done.append(d)
    except BaseException:
        for p in [*done, *temps]:
            p.unlink(missing_ok=True)
        raise


def write_files_atomic(files: Mapping[str | os.PathLike, bytes]) -> list[Path]:
    """Write each ``path: data`` of ``files`` as one set (:func:`atomic_paths`): all of them, or none; returns
    the paths."""
    with atomic_paths(list(files)) as temps:
        for tmp, data in zip(temps, files.values()):
            tmp.write_bytes(data)
    return [Path(p) for p in files]


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
