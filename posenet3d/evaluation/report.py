"""Showing and saving evaluation results: plain-text tables, ``output/result/<name>.json``, prediction HDF5.

Every file is written atomically: to a temporary file in the destination folder, then ``os.replace``d over the
final name, so an interrupted run never leaves a half-written result behind.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posenet3d.fileio import atomic_path

DEFAULT_RESULT_DIR = Path("output") / "result"

_SCALAR = (int, float, str, bool, np.integer, np.floating, np.bool_, type(None))


def to_jsonable(obj: Any) -> Any:
    """Convert results to strict-JSON types: numpy scalars/arrays → Python numbers/lists, tuples → lists,
    mapping keys → str, NaN/±inf → None (strict JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write a value of type {type(obj).__name__} to JSON: {obj!r}")


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` (see :func:`to_jsonable`) as indented strict JSON to ``path`` atomically; returns the path."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def write_result_json(results: Mapping[str, Any], name: str, result_dir: str | Path = DEFAULT_RESULT_DIR) -> Path:
    """Write a results dict to ``<result_dir>/<name>.json`` (default ``output/result``) atomically.

    ``name`` is a plain file stem (letters, digits, ``._-``). Returns the written path.
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in (".", ".."):
        raise ValueError(f"result name {name!r} must be a plain file stem (letters, digits, '.', '_', '-')")
    return write_json(Path(result_dir) / f"{name}.json", results)


# --------------------------------------------------------------------------------------------- HDF5
def write_predictions_h5(path: str | Path, arrays: Mapping[str, Any], attrs: Mapping[str, Any] | None = None
                         ) -> Path:
    """Write prediction arrays to an HDF5 file atomically.

    ``arrays``: dataset name → array-like (a ``/`` in a name makes groups, e.g. ``'poses/joints_cam_mm'``);
    numeric arrays are gzip-compressed, string lists are stored as UTF-8. ``attrs``: file-level attributes
    (state units and frames here, e.g. ``{'units': 'mm', 'frame': 'camera'}``); values must be scalars, strings
    or numeric arrays. Returns the path.
    """
    if not arrays:
        raise ValueError(f"{path}: no prediction arrays to write")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in arrays.items():
                if not isinstance(key, str) or not key.strip("/"):
                    raise ValueError(f"{path}: invalid dataset name {key!r}")
                a = np.asarray(value)
                if a.dtype.kind in "US" or a.dtype == object:
                    f.create_dataset(key, data=np.asarray([str(v) for v in a.reshape(-1)], dtype=object)
                                     .reshape(a.shape), dtype=h5py.string_dtype("utf-8"))
                elif a.dtype.kind in "biuf":
                    f.create_dataset(key, data=a, compression="gzip" if a.ndim else None)
                else:
                    raise ValueError(f"{path}: dataset {key!r} has unsupported dtype {a.dtype}")
            for key, value in (attrs or {}).items():
                f.attrs[str(key)] = value
    return Path(path)


def read_predictions_h5(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`write_predictions_h5`: ``({dataset path: array}, {attribute: value})``.
    String datasets come back as numpy arrays of ``str``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prediction file {path} does not exist")
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                a = obj[()]
                if h5py.check_string_dtype(obj.dtype) is not None:
                    a = np.asarray(obj.asstr()[()], dtype=str)
                arrays[name] = np.asarray(a)
        f.visititems(visit)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return arrays, attrs


# --------------------------------------------------------------------------------------------- tables
def _fmt(v: Any, digits: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "nan" if math.isnan(v) else f"{float(v):.{digits}f}"
    return str(v)


def format_table(rows: Mapping[str, Mapping[str, Any]], row_header: str = "", digits: int = 2) -> str:
    """Plain-text table: one line per row key, one column per inner key (union, in first-seen order)."""
    columns: list[str] = []
    for row in rows.values():
        for c in row:
            if c not in columns:
                columns.append(str(c))
    header = [row_header] + columns
    body = [[str(r)] + [_fmt(rows[r].get(c), digits) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(b) for b in body])


def _is_scalar(v: Any) -> bool:
    return isinstance(v, _SCALAR)


def format_results(results: Mapping[str, Any], title: str | None = None, digits: int = 2, _indent: str = ""
                   ) -> str:
    """Render a results dict as plain text.

    Scalars print as ``key: value``; a mapping of numbers as a one-row table (its keys are the columns), one
    holding strings as indented ``key: value`` lines; a mapping whose values are all mappings of scalars as a
    table (outer keys are rows); lists of scalars on one line; other mappings as an indented section.
    """
    out: list[str] = []
    if title:
        out += [f"{_indent}{title}", f"{_indent}{'=' * len(title)}"]
    for key, value in results.items():
        if _is_scalar(value):
            out.append(f"{_indent}{key}: {_fmt(value, digits)}")
        elif isinstance(value, Mapping) and value and all(_is_scalar(v) for v in value.values()):
            out.append(f"{_indent}{key}:")
            if any(isinstance(v, str) for v in value.values()):
                out += [f"{_indent}  {k}: {_fmt(v, digits)}" for k, v in value.items()]
            else:
                out += [_indent + "  " + ln for ln in format_table({"": value}, digits=digits).splitlines()]
        elif (isinstance(value, Mapping) and value and all(isinstance(v, Mapping) and
                                                           all(_is_scalar(x) for x in v.values())
                                                           for v in value.values())):
            out.append(f"{_indent}{key}:")
            out += [_indent + "  " + ln for ln in format_table(value, digits=digits).splitlines()]
        elif isinstance(value, (list, tuple, np.ndarray)) and all(_is_scalar(v) for v in np.asarray(
                value, dtype=object).reshape(-1)):
            out.append(f"{_indent}{key}: " + " ".join(_fmt(v, digits) for v in np.asarray(value, dtype=object)
                                                       .reshape(-1)))
        elif isinstance(value, Mapping):
            out.append(f"{_indent}{key}:")
            out.append(format_results(value, digits=digits, _indent=_indent + "  "))
        else:
            out.append(f"{_indent}{key}: {value!r}")
    return "\n".join(out)
