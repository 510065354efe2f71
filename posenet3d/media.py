"""Inputs of the estimator and the demo: finding them (image, folder, glob, video) and reading them as BGR.

* **Pixels**: every image leaves this module as an ``(H, W, 3)`` ``uint8`` **BGR** array (OpenCV's order). 8-bit
  grey ``(H, W)``/``(H, W, 1)`` and BGRA ``(H, W, 4)`` arrays are converted once; a BGR array with packed pixels
  is returned as it is (no copy), so a huge image is never duplicated here.
* **Orientation**: :func:`read_image` returns pixels as stored by default (datasets: annotations are in stored
  pixels); ``orientation="exif"`` turns the image upright as its EXIF orientation tag says (users' phone photos;
  the estimator given a path and the demo read this way).
* **Depth**: 16-bit files are scaled to 8 bits (the top 8 bits, ``v >> 8``); floating-point files (e.g. 32-bit
  float TIFF) are mapped to 0..255 by :func:`float_to_uint8`; other sample types are refused with their name.
* **Discovery** (:func:`discover_inputs`): an existing file (a video by its extension, anything else is tried as
  an image), a folder (its visible files, in natural order, not recursive), or a glob pattern. Each found path
  becomes an :class:`InputItem`; a missing path or an empty pattern becomes an item that carries its error, so a
  caller can report it and carry on with the others. In a folder or a glob, a file whose extension is neither an
  image's nor a video's (a README, a ``.camera.json`` sidecar) becomes an item of kind ``"other"``, for the
  caller to skip and count.
* **Errors** are :class:`MediaError` (a ``ValueError``) whose message starts with the input's path and says what
  is wrong with it: missing, empty (0 bytes), a truncated JPEG, not decodable as an image, an unsupported
  sample type, a video that cannot be opened or that ends before its announced frame count.
"""
from __future__ import annotations

import glob
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

import cv2
import numpy as np

#: File extensions read as images when found in a folder or glob (a file named explicitly is tried whatever its
#: extension; in a folder or glob other files are of kind ``"other"``).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jp2")
#: File extensions read as videos.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
#: Frame rate written when a video does not report one (frames per second).
DEFAULT_FPS = 25.0
_JPEG_TAIL_BYTES = 1024
_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
#: ``read_image(orientation=...)``: pixels as stored, or turned upright as the EXIF orientation tag says.
ORIENTATIONS = ("stored", "exif")


class MediaError(ValueError):
    """An input cannot be used; the message names the input (path or array) and the reason."""


@dataclass(frozen=True)
class InputItem:
    """One input found by :func:`discover_inputs`: ``path``, ``kind`` (``"image"``, ``"video"``, or ``"other"``
    for a file of a folder or glob that is neither by its extension) and, when the input is already known to be
    unusable (missing path, pattern without a match), ``error``."""

    path: Path
    kind: str
    error: str | None = None


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def input_kind(path: str | os.PathLike, named: bool = True) -> str:
    """``"video"`` for a video file extension (:data:`VIDEO_EXTENSIONS`), ``"image"`` for an image extension
    (:data:`IMAGE_EXTENSIONS`); any other file is ``"image"`` when ``named`` (the user named it: try it) and
    ``"other"`` when it was found in a folder or by a pattern."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return "image" if named or suffix in IMAGE_EXTENSIONS else "other"


def discover_inputs(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[InputItem]:
    """The inputs named by ``spec``: a file, a folder, a glob pattern, or a list of those (in the given order).

    A folder contributes its visible regular files (hidden ``.*`` files and sub-folders are skipped), sorted in
    natural order (``img2`` before ``img10``); there, and among a pattern's matches, a file whose extension is
    neither an image's nor a video's is an item of kind ``"other"`` (a README, a sidecar), which callers skip
    and count. A file named explicitly is tried as an image whatever its extension. A missing path or a pattern
    that matches nothing yields one item with ``error`` set. Duplicates are removed (first occurrence kept).
    """
    specs = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(item: InputItem) -> None:
        key = item.path.resolve() if item.error is None else item.path
        if key not in seen:
            seen.add(key)
            items.append(item)

    for s in specs:
        path = Path(s)
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")),
                           key=_natural_key)
            if not files:
                add(InputItem(path, "image", f"{path}: the folder holds no files"))
            for p in files:
                add(InputItem(p, input_kind(p, named=False)))
        elif path.exists():
            add(InputItem(path, input_kind(path)))
        elif any(c in str(s) for c in "*?["):
            matches = sorted((Path(m) for m in glob.glob(str(s))), key=lambda p: (str(p.parent), _natural_key(p)))
            files = [m for m in matches if m.is_file()]
            if not files:
                add(InputItem(path, "image", f"{s}: no file matches this pattern"))
            for p in files:
                add(InputItem(p, input_kind(p, named=False)))
        else:
            add(InputItem(path, input_kind(path), f"{path}: no such file or folder"))
    return items


def to_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An 8-bit grey ``(H, W)``/``(H, W, 1)``, BGR ``(H, W, 3)`` or BGRA ``(H, W, 4)`` array as BGR ``uint8``.

    A BGR array whose pixels are packed (each row contiguous) is returned unchanged, without a copy; any other
    layout or channel count is converted once. The caller must not modify the result if it wants its input
    intact. Raises :class:`MediaError` naming ``name`` for another dtype, shape or an empty image.
    """
    if not isinstance(image, np.ndarray):
        raise MediaError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise MediaError(f"{name}: expected 8-bit pixels (uint8), got dtype {image.dtype}; scale the image "
                         f"to 0..255 and cast it to uint8")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4)):
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise MediaError(f"{name}: the image is empty (shape {image.shape})")
    else:
        raise MediaError(f"{name}: expected an (H, W) grey, (H, W, 3) BGR or (H, W, 4) BGRA image, got shape "
                         f"{image.shape}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    packed = image.strides[2] == 1 and image.strides[1] == 3 and image.strides[0] > 0
    return image if packed else np.ascontiguousarray(image)


def _check_complete(path: Path, data: np.ndarray) -> None:
    """Raise when a JPEG lacks its end-of-image marker (FF D9) near its end, or a PNG its ``IEND`` chunk: OpenCV
    decodes such a cut-short file without an error (the missing rows come out grey), so this is the only way
    to notice. (The entropy-coded JPEG data never contains FF D9.)"""
    head = data[:8].tobytes()
    if head[:2] == _JPEG_SOI and _JPEG_EOI not in data[-_JPEG_TAIL_BYTES:].tobytes():
        raise MediaError(f"{path}: truncated JPEG (the end-of-image marker is missing; the file is cut short "
                         f"at {data.size} bytes)")
    if head == _PNG_SIGNATURE and b"IEND" not in data[-64:].tobytes():
        raise MediaError(f"{path}: truncated PNG (the IEND chunk is missing; the file is cut short at "
                         f"{data.size} bytes)")


def float_to_uint8(image: np.ndarray) -> np.ndarray:
    """A floating-point image as ``uint8``: values within [0, 1] (the usual range of float images) are scaled by
    255; an image with values beyond [0, 1] is stretched linearly from its minimum..maximum to 0..255 (a constant
    image becomes 0). Non-finite values (NaN, inf) become 0. Rounded to the nearest integer."""
    arr = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(arr)
    values = arr[finite]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        scaled = arr * 255.0
    else:
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return np.clip(np.rint(np.where(finite, scaled, 0.0)), 0, 255).astype(np.uint8)


def _to_8bit(p: Path, img: np.ndarray) -> np.ndarray:
    """A decoded image of any sample type as 8-bit (module docstring), or :class:`MediaError` naming the type."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)  # what OpenCV's IMREAD_COLOR does with 16-bit files
    elif img.dtype.kind == "f":
        img = float_to_uint8(img)
    elif img.dtype != np.uint8:
        raise MediaError(f"{p}: {img.dtype} samples are not supported (8-bit, 16-bit unsigned and floating-point "
                         f"images are); convert the image to 8-bit")
    return img


def read_image(path: str | os.PathLike, orientation: str = "stored") -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` BGR ``uint8``: the one image reader of posenet3d (datasets, detector
    training, estimator, demo).

    ``orientation``: ``"stored"`` (default) returns the pixels **as stored**, EXIF orientation ignored, as in
    the reference and in the datasets' annotations, so a box or joint in a file's pixel frame means the same
    pixel everywhere. ``"exif"`` turns the image upright as its EXIF orientation tag says (a phone photo taken
    sideways comes out as the user saw it; the estimator given a path and the demo read this way); a file without
    the tag reads the same either way.

    Grey and BGRA files are converted; 16-bit files are scaled to 8 bits (``v >> 8``); floating-point files (a
    32-bit float TIFF) are mapped by :func:`float_to_uint8` (``[0, 1]`` × 255, else min..max stretched to
    0..255). Raises :class:`MediaError` naming the file: missing, a folder, 0 bytes, a truncated JPEG or PNG, an
    unsupported sample type, or not decodable.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"read_image: orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if not p.is_file():
        raise MediaError(f"{p}: not a regular file")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)  # (not cv2.imread: any path encoding works)
    except OSError as exc:
        raise MediaError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise MediaError(f"{p}: the file is empty (0 bytes)")
    _check_complete(p, data)
    turn = cv2.IMREAD_IGNORE_ORIENTATION if orientation == "stored" else 0
    # 8-bit colour straight away; TIFF (possibly float samples, which IMREAD_COLOR refuses) and anything
    # IMREAD_COLOR cannot decode are read at their own depth and converted here
    img = None
    if data[:4].tobytes() not in _TIFF_SIGNATURES:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR | turn)
    if img is None:
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR | turn)
        if img is not None:
            img = to_bgr(_to_8bit(p, img), str(p))
    if img is None:
        raise MediaError(f"{p}: cannot be decoded as an image (not an image file, corrupt, or an unsupported "
                         f"format; {data.size} bytes)")
    return img


class VideoReader:
    """Frames of a video file as BGR ``uint8`` arrays, with the facts a writer needs.

    ``fps`` (frames per second; :data:`DEFAULT_FPS` when the file reports none), ``frame_count`` (announced by
    the container; 0 when unknown), ``size`` = (W, H) px. Iterating yields ``(index, frame)``, ``index`` counting
    every frame of the file from 0. A frame that cannot be decoded in the middle of the video (a corrupt packet)
    is skipped: its index is left out, so the indices after it keep their place in time, and it is listed in
    ``skipped``; the video ends after :data:`MAX_BAD_FRAMES` failures in a row or at the announced frame count.
    Afterwards ``frames_read`` is the count of decoded frames and :meth:`check_complete` raises if the video ended
    early. Use as a context manager (or call :meth:`close`).
    """

    #: Consecutive undecodable frames after which the video is taken to have ended.
    MAX_BAD_FRAMES = 25

    def __init__(self, path: str | os.PathLike, fallback_fps: float = DEFAULT_FPS) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MediaError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise MediaError(f"{self.path}: the file is empty (0 bytes)")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise MediaError(f"{self.path}: cannot be opened as a video (corrupt, truncated or an unsupported "
                             f"codec)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and 0.0 < fps <= 1000.0 else float(fallback_fps)
        self.fps_reported = fps if np.isfinite(fps) and fps > 0 else None
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if np.isfinite(count) and count > 0 else 0
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frames_read = 0
        self.skipped: list[int] = []  #: indices of undecodable frames followed by good ones

    def _read(self) -> np.ndarray | None:
        try:
            ok, frame = self._cap.read()
        except cv2.error:
            return None
        return frame if ok and frame is not None else None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        failed: list[int] = []
        index = 0
        while True:
            frame = self._read()
            if frame is None:
                failed.append(index)
                if len(failed) >= self.MAX_BAD_FRAMES or (self.frame_count and index + 1 >= self.frame_count):
                    return
            else:
                self.skipped.extend(failed)
                failed = []
                self.frames_read += 1
                yield index, to_bgr(frame, f"{self.path} frame {index}")
            index += 1

    def check_complete(self) -> None:
        """Raise :class:`MediaError` if no frame was read, or fewer than the container announced (skipped frames
        counted; one frame of slack for containers whose count is estimated)."""
        if self.frames_read == 0:
            raise MediaError(f"{self.path}: no frame could be decoded")
        seen = self.frames_read + len(self.skipped)
        if self.frame_count and seen + 1 < self.frame_count:
            raise MediaError(f"{self.path}: the video ended early: {seen} of {self.frame_count} "
                             f"announced frames could be read (truncated or corrupt file)")

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def prefetch(frames: Iterator, size: int = 8) -> Iterator:
    """Iterate ``frames`` (e.g. a :class:`VideoReader`) in a background thread, ``size`` items ahead, so that
    decoding overlaps the caller's work; an exception of the reader is raised here, in order."""
    queue: Queue = Queue(maxsize=max(1, size))
    done = object()

    def work() -> None:
        try:
            for item in frames:
                queue.put(item)
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer, which raises it
            queue.put(_Raised(exc))
        queue.put(done)

    threading.Thread(target=work, daemon=True).start()
    while (item := queue.get()) is not done:
        if isinstance(item, _Raised):
            raise item.exc
        yield item


@dataclass
class _Raised:
    exc: BaseException
