"""Person boxes computed elsewhere, read from a file and matched to images by file name.

:func:`read_boxes` reads one of three formats (tried in this order; a file in none of them is an error that says
which were tried):

* **COCO detections JSON** — a list of ``{"image_id" or "file_name", "bbox": [x, y, w, h] px, "score",
  "category_id"}`` (COCO's results format; the reference's raw ``bbox_*_output.json`` is this), or an object
  ``{"images": [{"id", "file_name"}], "annotations": [such records]}`` that maps the ids to file names. Only
  ``category_id`` 1 (person) is kept (records without one count as people); a missing ``score`` reads as 1.
* **3DMPPE ``bbox_root_*_output.json``** — the same records with ``root_cam``: their boxes are *crop boxes*
  already (square, ×1.25) and are used as they are (``processed``); ``root_cam`` is not used (RootNet estimates
  the depth).
* **YOLO text** — a folder of ``<image stem>.txt`` files (or one such file), one box per line:
  ``class cx cy w h [score]``, normalised to the image's width and height (0..1); class ``0`` is a person
  (COCO-trained YOLO models; ``person_class`` changes it); blank lines and ``#`` comments are skipped.

**Matching** an image ``photo.jpg``: a record whose ``file_name`` (or whose ``image_id``'s ``file_name`` in
``images``) has the same name, else the same stem (``photo``); else a record with only an ``image_id`` equal
to the stem read as a number (COCO's ``000000397133.jpg`` is image 397133); for YOLO the file ``photo.txt``.
:meth:`BoxSource.unused` names the entries no image asked for.

**Checks.** A file that cannot be read as its format (a record without ``bbox``, a ``bbox`` that is not four
numbers, a YOLO line that is not five or six numbers) raises :class:`BoxesError` naming the file and the
record or line number. One box whose values are NaN or infinite, or negative (the position and size the format
writes: ``x, y, w, h`` px or ``cx, cy, w, h``; the processed ``bbox_root`` boxes may start left of or above the
image), is skipped with a note in that image's result, as are boxes of zero size or entirely outside the image.
A box partly outside the image is clipped to it (:func:`~posenet3d.crop.crop_boxes`).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.jsonio import describe

#: COCO category id of a person (COCO JSON) and class index of a person in COCO-trained YOLO models.
COCO_PERSON_CATEGORY = 1
YOLO_PERSON_CLASS = 0
#: The formats :func:`read_boxes` tries, in order, with what each looks like (for the error of a file in none).
FORMATS = {
    "coco": "COCO detections JSON (a list of {image_id or file_name, bbox [x, y, w, h], score, category_id}, or "
            "{images, annotations})",
    "bbox_root": "3DMPPE bbox_root_*_output.json (those records with root_cam; processed boxes)",
    "yolo": "YOLO text (a folder of <image stem>.txt, or one .txt; lines 'class cx cy w h [score]', normalised)",
}


class BoxesError(ValueError):
    """A boxes file cannot be read: one line naming the file and the record, line or field at fault."""


@dataclass
class ImageBoxes:
    """The usable person boxes of one image: ``boxes_xywh (N, 4)`` px ``[x, y, w, h]`` (crop boxes when
    ``processed``), ``scores (N,)``, and ``notes`` on the boxes that were skipped."""

    boxes_xywh: np.ndarray
    scores: np.ndarray
    processed: bool = False
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class _Box:
    values: tuple[float, ...]  # as written: x, y, w, h px (JSON) or cx, cy, w, h normalised (YOLO)
    score: float
    where: str  # "dets.json entry[3]" or "photo.txt:7", for notes


@dataclass
class BoxSource:
    """Boxes read by :func:`read_boxes`. ``format`` is a key of :data:`FORMATS`; ``processed`` says the boxes
    are crop boxes already. Ask :meth:`boxes_for` per image, then :meth:`unused` for what no image matched."""

    path: Path
    format: str
    processed: bool = False
    person_class: int = COCO_PERSON_CATEGORY
    by_name: dict[str, list[_Box]] = field(default_factory=dict)  # file name -> boxes (JSON)
    by_id: dict[int, list[_Box]] = field(default_factory=dict)  # image id without a file name (JSON)
    yolo_files: dict[str, Path] = field(default_factory=dict)  # stem -> .txt (YOLO)
    other_classes: int = 0  # boxes of other classes / categories (ignored)
    _used: set = field(default_factory=set)

    def __len__(self) -> int:
        """Number of images the source has boxes for."""
        return len(self.by_name) + len(self.by_id) + len(self.yolo_files)

    def describe(self) -> str:
        """One line: the file, its format and what it holds."""
        other = f"; {self.other_classes} boxes of other classes ignored" if self.other_classes else ""
        if self.format == "yolo":
            return f"{self.path}: YOLO text, {len(self.yolo_files)} files (person class {self.person_class})"
        n = sum(len(b) for b in self.by_name.values()) + sum(len(b) for b in self.by_id.values())
        return f"{self.path}: {FORMATS[self.format].split(' (')[0]}, {n} person boxes for {len(self)} images{other}"

    def _key(self, image_path: Path):
        name, stem = image_path.name, image_path.stem
        if self.format == "yolo":
            return ("yolo", stem) if stem in self.yolo_files else None
        if name in self.by_name:
            return "name", name
        stems = [n for n in self.by_name if Path(n).stem == stem]
        if stems:
            return "name", stems[0]
        if stem.isdigit() and int(stem) in self.by_id:
            return "id", int(stem)
        return None

    def boxes_for(self, image_path: str | os.PathLike, width: int, height: int) -> ImageBoxes | None:
        """The usable boxes of the image at ``image_path`` (``width`` × ``height`` px), or None when the source
        has no entry for it. A malformed line of its YOLO file raises :class:`BoxesError` (file:line)."""
        key = self._key(Path(image_path))
        if key is None:
            return None
        self._used.add(key)
        kind, k = key
        boxes = (self.by_name[k] if kind == "name" else self.by_id[k] if kind == "id"
                 else _read_yolo_file(self.yolo_files[k], self.person_class, self))
        out, scores, notes = [], [], []
        for b in boxes:
            xywh, problem = _to_pixels(b.values, width, height, self.format == "yolo", self.processed)
            if problem:
                notes.append(f"{b.where}: box {_fmt(b.values)} {problem}: skipped")
            elif not math.isfinite(b.score):
                notes.append(f"{b.where}: score {b.score} is not a number: skipped")
            else:
                out.append(xywh)
                scores.append(b.score)
        return ImageBoxes(np.asarray(out, dtype=np.float64).reshape(-1, 4), np.asarray(scores, dtype=np.float64),
                          self.processed, notes)

    def unused(self) -> list[str]:
        """The images the source has boxes for that no :meth:`boxes_for` call matched (names or ``image_id N``)."""
        names = [n for n in self.by_name if ("name", n) not in self._used]
        ids = [f"image_id {i}" for i in self.by_id if ("id", i) not in self._used]
        stems = [f"{s}.txt" for s in self.yolo_files if ("yolo", s) not in self._used]
        return names + ids + stems


def _fmt(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _to_pixels(values: tuple[float, ...], width: int, height: int, normalised: bool, processed: bool
               ) -> tuple[np.ndarray | None, str | None]:
    """``[x, y, w, h]`` px of one box and None, or None and why it is skipped."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        return None, "has NaN or infinite values"
    if np.any(v[2:] < 0) or (not processed and np.any(v[:2] < 0)):
        return None, "has negative values"
    if normalised:
        cx, cy, w, h = v * [width, height, width, height]
        v = np.array([cx - w / 2, cy - h / 2, w, h])
    x, y, w, h = v
    if w <= 0 or h <= 0:
        return None, "has zero size"
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return None, f"lies outside the {width}x{height} image"
    return v, None


# ------------------------------------------------------------------------------------------------ JSON --

def _json_records(data, path: Path) -> tuple[list, dict[int, str]]:
    """The detection records of a parsed JSON file (a list, or a dict with ``annotations``) and its ``images``
    id → file name map."""
    if isinstance(data, list):
        return data, {}
    names = {}
    for i, im in enumerate(data.get("images") or []):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise BoxesError(f"{path}: images[{i}] needs 'id' and 'file_name', got {str(im)[:80]}")
        names[int(im["id"])] = Path(im["file_name"]).name
    return data["annotations"], names


def _read_json(path: Path, data, person_category: int) -> BoxSource:
    records, names = _json_records(data, path)
    processed = bool(records) and all(isinstance(r, dict) and "root_cam" in r for r in records)
    src = BoxSource(path, "bbox_root" if processed else "coco", processed, person_category)
    for i, r in enumerate(records):
        what = describe("entry", i, r)
        if not isinstance(r, dict):
            raise BoxesError(f"{path}: {what} is not an object")
        if "bbox" not in r:
            raise BoxesError(f"{path}: {what} has no field 'bbox'")
        try:
            values = tuple(float(v) for v in r["bbox"])
            score = float(r.get("score", 1.0))
            category = int(r.get("category_id", person_category))
        except (TypeError, ValueError):
            raise BoxesError(f"{path}: {what}: 'bbox' must be 4 numbers [x, y, w, h] px and 'score', 'category_id' "
                             f"numbers, got bbox {str(r.get('bbox'))[:60]}") from None
        if len(values) != 4:
            raise BoxesError(f"{path}: {what}: 'bbox' must be 4 numbers [x, y, w, h] px, got {len(values)}")
        if category != person_category:
            src.other_classes += 1
            continue
        box = _Box(values, score, f"{path.name} {what}")
        if isinstance(r.get("file_name"), str):
            src.by_name.setdefault(Path(r["file_name"]).name, []).append(box)
        elif "image_id" in r:
            try:
                image_id = int(r["image_id"])
            except (TypeError, ValueError):
                raise BoxesError(f"{path}: {what}: 'image_id' is not an integer: {r['image_id']!r}") from None
            if image_id in names:
                src.by_name.setdefault(names[image_id], []).append(box)
            else:
                src.by_id.setdefault(image_id, []).append(box)
        else:
            raise BoxesError(f"{path}: {what} has neither 'file_name' nor 'image_id'")
    return src


# ------------------------------------------------------------------------------------------------ YOLO --

def _read_yolo_file(path: Path, person_class: int, src: BoxSource | None = None) -> list[_Box]:
    """The person boxes of one YOLO text file; a malformed line raises :class:`BoxesError` naming file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxesError(f"{path}: cannot be read as text ({type(exc).__name__}: {exc})") from None
    boxes = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            if len(parts) not in (5, 6):
                raise ValueError
            cls_value = float(parts[0])
            if cls_value != int(cls_value):
                raise ValueError
            nums = [float(p) for p in parts[1:]]
        except (ValueError, OverflowError):
            raise BoxesError(f"{path}:{n}: expected 'class cx cy w h [score]' (class an integer, the rest "
                             f"numbers normalised to 0..1), got {line[:80]!r}") from None
        if int(cls_value) != person_class:
            if src is not None:
                src.other_classes += 1
            continue
        boxes.append(_Box(tuple(nums[:4]), nums[4] if len(nums) == 5 else 1.0, f"{path.name}:{n}"))
    return boxes


def _yolo_source(path: Path, person_class: int) -> BoxSource:
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files:
        raise BoxesError(f"{path}: a folder of boxes holds YOLO text files <image stem>.txt, found none")
    if not path.is_dir():
        _read_yolo_file(path, person_class)  # one file: check it now
    return BoxSource(path, "yolo", False, person_class, yolo_files={f.stem: f for f in files})


# --------------------------------------------------------------------------------------------- reading --

def read_boxes(path: str | os.PathLike, person_class: int | None = None) -> BoxSource:
    """Read a boxes file or folder (module docstring). ``person_class``: the category / class of a person
    (default 1 in COCO JSON, 0 in YOLO text). Raises :class:`BoxesError` naming the file and the record or
    line; a file in none of the formats names the formats tried."""
    path = Path(path)
    if path.is_dir():
        return _yolo_source(path, YOLO_PERSON_CLASS if person_class is None else person_class)
    if not path.is_file():
        raise BoxesError(f"{path}: no such file or folder")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxesError(f"{path}: cannot be read as text ({type(exc).__name__}: {exc}); boxes files are one of: "
                         + "; ".join(FORMATS.values())) from None
    reasons = []
    if path.suffix.lower() != ".txt":
        try:
            data = json.loads(text)
        except ValueError as exc:
            reasons.append(f"not JSON ({exc})")
        else:
            if not (isinstance(data, list) or (isinstance(data, dict) and isinstance(data.get("annotations"), list))):
                keys = f" with keys {sorted(data)[:6]}" if isinstance(data, dict) else ""
                raise _none_of(path, [f"JSON, but a {type(data).__name__}{keys}: neither a list of records nor "
                                      "{images, annotations}"])
            return _read_json(path, data, COCO_PERSON_CATEGORY if person_class is None else person_class)
    try:
        return _yolo_source(path, YOLO_PERSON_CLASS if person_class is None else person_class)
    except BoxesError as exc:
        if path.suffix.lower() == ".txt":
            raise
        reasons.append(f"not YOLO text ({str(exc).removeprefix(f'{path}:').strip()})")
    raise _none_of(path, reasons)


def _none_of(path: Path, reasons: list[str]) -> BoxesError:
    return BoxesError(f"{path}: not a boxes file in any of the formats tried ({'; '.join(FORMATS.values())}): "
                      + ", ".join(reasons))


def estimate_with_boxes(estimator, image, image_path: str | os.PathLike, source: BoxSource, **camera):
    """:meth:`~posenet3d.estimator.Estimator.estimate_from_boxes` of ``image`` (a BGR array) with the boxes
    ``source`` holds for ``image_path``: an empty result with a note when it holds none, the notes of skipped
    boxes added to the result's ``notes``. ``camera``: ``intrinsics`` or ``focal``."""
    h, w = image.shape[:2]
    entry = source.boxes_for(image_path, w, h)
    if entry is None:
        result = estimator.estimate_from_boxes(image, np.zeros((0, 4)), **camera)
        result.notes.append(f"no boxes for {Path(image_path).name} in {source.path}: nobody was searched for")
        return result
    result = estimator.estimate_from_boxes(image, entry.boxes_xywh, entry.scores, processed=entry.processed,
                                           **camera)
    result.notes.extend(entry.notes)
    return result


__all__ = ["COCO_PERSON_CATEGORY", "FORMATS", "YOLO_PERSON_CLASS", "BoxSource", "BoxesError", "ImageBoxes",
           "estimate_with_boxes", "read_boxes"]
