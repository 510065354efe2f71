"""Safe reading of the JSON files the dataset adapters consume (COCO-style annotations, box/root files).

Every failure becomes a :class:`~posenet3d.datasets.base.DatasetError` that names what is wrong:

* a missing file → the expected path and the dataset's README;
* malformed JSON → the file, line, column and character offset;
* a missing or ill-shaped field → the file, the record (list name, index and id) and the field.

COCO-style files are indexed here rather than with ``pycocotools.COCO``: the adapters only need images by id
and annotations grouped by image (in file order), and ``COCO`` neither validates fields nor reports the
record at fault.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import DatasetError, require_field


def require_file(path: Path | str, dataset: str) -> Path:
    """``path`` as a :class:`Path`, or a :class:`DatasetError` naming it and the dataset's README."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{dataset}: expected file {path} does not exist. See the README's 'Data' section and "
            f"data/{dataset}/README.md for where to get it and how to lay it out.")
    return path


def load_json(path: Path | str, dataset: str) -> Any:
    """Parse a JSON file; a missing file or malformed JSON raises :class:`DatasetError` naming the file
    (and, for malformed JSON, the line, column and character offset of the error)."""
    path = require_file(path, dataset)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno} (char {e.pos}): {e.msg}") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text (byte {e.start}): {e.reason}") from None


def describe(list_name: str, index: int, record: Any) -> str:
    """A human-readable name for one record: ``annotations[3] (id 17, image_id 5)``."""
    ids = []
    if isinstance(record, dict):
        for key in ("id", "image_id"):
            if key in record:
                ids.append(f"{key} {record[key]!r}")
    return f"{list_name}[{index}]" + (f" ({', '.join(ids)})" if ids else "")


def get_array(record: Any, key: str, file: Path | str, what: str, shape: tuple[int | None, ...] | None = None,
              dtype=np.float64) -> np.ndarray:
    """``record[key]`` as a numeric array of the given ``shape`` (``None`` = any size along that axis).

    A missing field, a non-numeric or ragged value, or a wrong shape raise :class:`DatasetError` naming the
    file, the record (``what``) and the field.
    """
    value = require_field(record, key, file, what)
    try:
        arr = np.asarray(value, dtype=dtype)
    except (ValueError, TypeError):
        raise DatasetError(f"{file}: {what} field {key!r} is not a numeric array: {_short(value)}") from None
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "x".join("N" if s is None else str(s) for s in shape) or "scalar"
            raise DatasetError(f"{file}: {what} field {key!r} has shape {'x'.join(map(str, arr.shape)) or 'scalar'}, "
                               f"expected {want}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise DatasetError(f"{file}: {what} field {key!r} contains NaN or infinite values")
    return arr


def get_int(record: Any, key: str, file: Path | str, what: str) -> int:
    """``record[key]`` as an int; a missing field or non-integer value raises :class:`DatasetError`."""
    value = require_field(record, key, file, what)
    try:
        if isinstance(value, bool) or float(value) != int(value):
            raise ValueError
        return int(value)
    except (ValueError, TypeError):
        raise DatasetError(f"{file}: {what} field {key!r} is not an integer: {_short(value)}") from None


def get_str(record: Any, key: str, file: Path | str, what: str) -> str:
    """``record[key]`` as a non-empty string; otherwise :class:`DatasetError`."""
    value = require_field(record, key, file, what)
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{file}: {what} field {key!r} is not a non-empty string: {_short(value)}")
    return value


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class CocoFile:
    """A COCO-style annotation file: images by id and annotations grouped by image, both in file order.

    ``anns_by_image[image_id]`` holds ``(index, annotation)`` pairs, ``index`` being the position in the
    file's ``annotations`` list (for error messages). Annotations whose ``image_id`` is not among the
    images raise :class:`DatasetError`.
    """

    path: Path
    images: dict[int, dict] = field(default_factory=dict)
    anns_by_image: dict[int, list[tuple[int, dict]]] = field(default_factory=dict)
    image_index: dict[int, int] = field(default_factory=dict)

    def image_what(self, image_id: int) -> str:
        """``images[i] (id ...)`` for error messages."""
        return describe("images", self.image_index[image_id], self.images[image_id])

    def image(self, image_id: int, referrer: str) -> dict:
        """The image record with ``image_id``; ``referrer`` names who asked (for the error message)."""
        try:
            return self.images[image_id]
        except KeyError:
            raise DatasetError(f"{self.path}: no image with id {image_id} (referenced by {referrer})") from None

    def annotated_images(self):
        """``(image_id, image record, what, [(index, annotation), ...])`` for every image with annotations, in
        file order (``what`` names the image record for error messages)."""
        for image_id, anns in self.anns_by_image.items():
            if anns:
                yield image_id, self.images[image_id], self.image_what(image_id), anns

    def image_size(self, image_id: int) -> tuple[int, int]:
        """``(width, height)`` px of an image record (errors name the file and the record)."""
        img, what = self.images[image_id], self.image_what(image_id)
        return get_int(img, "width", self.path, what), get_int(img, "height", self.path, what)

    def num_annotations(self) -> int:
        return sum(len(v) for v in self.anns_by_image.values())


def load_coco(path: Path | str, dataset: str, need_annotations: bool = True) -> CocoFile:
    """Load and index a COCO-style file ``{"images": [...], "annotations": [...]}``.

    Every image needs an integer ``id``; every annotation an integer ``image_id`` that names an image.
    With ``need_annotations=False`` a file without an ``annotations`` list is accepted (image list only).
    """
    path = Path(path)
    data = load_json(path, dataset)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with 'images' and 'annotations', "
                           f"got {type(data).__name__}")
    images = require_field(data, "images", path, "the top-level object")
    if not isinstance(images, list):
        raise DatasetError(f"{path}: 'images' is not a list")
    out = CocoFile(path=path)
    for i, img in enumerate(images):
        what = describe("images", i, img)
        if not isinstance(img, dict):
            raise DatasetError(f"{path}: {what} is not an object")
        image_id = get_int(img, "id", path, what)
        if image_id in out.images:
            raise DatasetError(f"{path}: {what} repeats image id {image_id} "
                               f"(first at images[{out.image_index[image_id]}])")
        out.images[image_id] = img
        out.image_index[image_id] = i
        out.anns_by_image[image_id] = []
    if "annotations" not in data and not need_annotations:
        return out
    anns = require_field(data, "annotations", path, "the top-level object")
    if not isinstance(anns, list):
        raise DatasetError(f"{path}: 'annotations' is not a list")
    for i, ann in enumerate(anns):
        what = describe("annotations", i, ann)
        if not isinstance(ann, dict):
            raise DatasetError(f"{path}: {what} is not an object")
        image_id = get_int(ann, "image_id", path, what)
        if image_id not in out.images:
            raise DatasetError(f"{path}: {what} refers to image_id {image_id}, which is not in 'images'")
        out.anns_by_image[image_id].append((i, ann))
    return out
