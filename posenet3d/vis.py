"""Drawing results: a 2D overlay on the image (OpenCV) and a two-panel 3D figure (matplotlib, Agg).

Frames and units (as in :mod:`posenet3d.geometry`):

* 2D overlay: image pixels, ``bbox`` = ``[x_min, y_min, width, height]`` px, ``joints_2d`` = ``(J, 2)`` ``[u, v]`` px.
* 3D figure: camera frame in mm (x right, y down, z forward). The *front view* plots x against y with the
  y axis inverted (camera y points down), so people stand upright and the tick labels still read camera y;
  the *top view* plots x against z (depth grows upwards, the camera is below the panel). Each panel has
  equal x/y spans and an equal aspect, so 1 mm is the same length along both axes of a panel.

Images are BGR ``uint8`` (OpenCV order) in and out. Person ``i`` has colour ``person_colors(n)[i]`` in both
views. Matplotlib is used through :class:`matplotlib.figure.Figure` and ``FigureCanvasAgg`` directly, so no
global backend is selected and pyplot's state is never touched.
"""
from __future__ import annotations

import colorsys
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from posenet3d.fileio import write_bytes_atomic
from posenet3d.skeletons import JointSet

#: Points further than this from the image origin (px) are treated as invalid in the 2D overlay
#: (OpenCV drawing needs int32 coordinates; such points are off any real image anyway).
MAX_ABS_COORD_PX = 1.0e6

Color = tuple[int, int, int]


def person_colors(n: int) -> list[Color]:
    """``n`` distinct, saturated BGR colours (ints 0..255), the same sequence for every call.

    Hues step by the golden-ratio conjugate, so any prefix of the list is well spread around the colour
    wheel; person ``i`` is drawn with colour ``i`` in both :func:`draw_2d` and :func:`draw_3d`.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"person_colors: n must be a non-negative int, got {n!r}")
    colors = []
    for i in range(int(n)):
        hue = (0.02 + i * 0.618033988749895) % 1.0
        value = 0.95 if (i // 10) % 2 == 0 else 0.75  # after ten people, alternate brightness as well
        r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
        colors.append((round(b * 255), round(g * 255), round(r * 255)))
    return colors


def bgr_to_mpl(color: Color) -> tuple[float, float, float]:
    """A BGR 0..255 colour as matplotlib's RGB 0..1 tuple."""
    b, g, r = color
    return (r / 255.0, g / 255.0, b / 255.0)


def _bones(skeleton: JointSet | Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    pairs = skeleton.skeleton if isinstance(skeleton, JointSet) else skeleton
    try:
        bones = tuple((int(a), int(b)) for a, b in pairs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"skeleton must be a JointSet or a sequence of (joint, joint) index pairs: {e}") from None
    for a, b in bones:
        if a < 0 or b < 0:
            raise ValueError(f"skeleton bone ({a}, {b}) has a negative joint index")
    return bones


def _colors_for(n: int, colors: Sequence[Color] | None) -> list[Color]:
    if colors is None:
        return person_colors(n)
    colors = [tuple(int(c) for c in col) for col in colors]
    if len(colors) < n:
        raise ValueError(f"colors: {len(colors)} colours given for {n} people")
    return colors


def _person_joints(person: dict, field: str, dims: int, index: int, bones: tuple[tuple[int, int], ...]
                   ) -> np.ndarray:
    if not isinstance(person, dict) or field not in person:
        raise KeyError(f"person {index}: missing field {field!r}")
    joints = np.asarray(person[field], dtype=np.float64)
    if joints.ndim != 2 or joints.shape[1] != dims:
        raise ValueError(f"person {index}: {field} must have shape (J, {dims}), got {joints.shape}")
    if bones:
        top = max(max(a, b) for a, b in bones)
        if top >= joints.shape[0]:
            raise ValueError(f"person {index}: skeleton uses joint {top} but {field} has {joints.shape[0]} joints")
    return joints


def as_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """A new contiguous BGR ``uint8`` copy of a grey ``(H, W)``/``(H, W, 1)``, BGR or BGRA ``uint8`` image."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got dtype {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"{name} is empty: shape {image.shape}")
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"{name} is empty: shape {image.shape}")
        if image.shape[2] == 4:
            return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
        return np.array(image, dtype=np.uint8, order="C", copy=True)
    raise ValueError(f"{name} must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {image.shape}")


def _per_person_vis(joint_vis, n_people: int) -> list[np.ndarray | None]:
    if joint_vis is None:
        return [None] * n_people
    if len(joint_vis) != n_people:
        raise ValueError(f"joint_vis: {len(joint_vis)} entries for {n_people} people")
    return [None if v is None else np.asarray(v, dtype=np.float64).reshape(-1) for v in joint_vis]


def draw_2d(image_bgr: np.ndarray, people: Sequence[dict], skeleton: JointSet | Sequence[tuple[int, int]],
            joint_vis: Sequence[np.ndarray | None] | None = None,
            colors: Sequence[Color] | None = None, labels: Sequence[str] | None = None) -> np.ndarray:
    """Overlay people on a copy of the image and return it (BGR ``uint8``, same height and width).

    Args:
        image_bgr: ``(H, W)`` grey, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA ``uint8``; never modified.
        people: one dict per person with ``joints_2d`` ``(J, 2)`` px and optionally ``bbox``
            ``[x, y, w, h]`` px and ``score`` (drawn as ``"<index>: <score>"`` next to the box).
        skeleton: a :class:`~posenet3d.skeletons.JointSet` or its bone index pairs.
        joint_vis: optional per-person ``(J,)`` weights; joints with weight ``<= 0`` and their bones are not
            drawn. Non-finite joints are never drawn.
        colors: per-person BGR colours; defaults to :func:`person_colors`.
        labels: per-person names drawn instead of the index (e.g. track ids in a video).
    """
    canvas = as_bgr(image_bgr, "image_bgr")
    h, w = canvas.shape[:2]
    bones = _bones(skeleton)
    colors = _colors_for(len(people), colors)
    vis_list = _per_person_vis(joint_vis, len(people))
    # line and text sizes grow with the image so the overlay reads the same at any resolution
    line_t = max(2, round(min(h, w) / 250))
    font_scale = max(0.35, min(h, w) / 900)
    font_t = max(1, round(font_scale * 1.5))

    for i, person in enumerate(people):
        joints = _person_joints(person, "joints_2d", 2, i, bones)
        valid = _drawable_joints(joints, vis_list[i], i)
        color = colors[i]
        pts = np.zeros(joints.shape, dtype=np.int64)
        pts[valid] = np.round(joints[valid]).astype(np.int64)
        label_anchor = _draw_box(canvas, person.get("bbox"), i, color, max(1, line_t // 2))
        if label_anchor is None and valid.any():
            label_anchor = (int(pts[valid, 0].min()), int(pts[valid, 1].min()))
        _draw_skeleton(canvas, pts, valid, bones, color, line_t)
        if label_anchor is not None:
            score = person.get("score")
            name = str(i) if labels is None else str(labels[i])
            text = name if score is None else f"{name}: {float(score):.2f}"
            _draw_label(canvas, text, label_anchor, color, font_scale, font_t)
    return canvas


def _drawable_joints(joints: np.ndarray, vis: np.ndarray | None, index: int) -> np.ndarray:
    """(J,) bool: joints (J, 2) px that are finite, within :data:`MAX_ABS_COORD_PX` and, when ``vis`` (J,) is
    given, have a weight above 0."""
    valid = np.isfinite(joints).all(axis=1) & (np.abs(joints) < MAX_ABS_COORD_PX).all(axis=1)
    if vis is not None:
        if vis.shape[0] != joints.shape[0]:
            raise ValueError(f"joint_vis[{index}] has {vis.shape[0]} entries for {joints.shape[0]} joints")
        valid &= vis > 0
    return valid


def _draw_box(canvas: np.ndarray, bbox, index: int, color: Color, thickness: int) -> tuple[int, int] | None:
    """Draw person ``index``'s ``bbox`` ``[x, y, w, h]`` px (None: nothing) and return its top-left corner (px),
    where the label goes; corners are clipped to :data:`MAX_ABS_COORD_PX` so OpenCV gets int32 coordinates."""
    if bbox is None:
        return None
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1)
    if bbox.shape[0] != 4 or not np.isfinite(bbox).all():
        raise ValueError(f"person {index}: bbox must be 4 finite numbers [x, y, w, h] px, got {bbox.tolist()}")
    corners = np.clip(np.concatenate([bbox[:2], bbox[:2] + bbox[2:]]), -MAX_ABS_COORD_PX, MAX_ABS_COORD_PX)
    x0, y0, x1, y1 = (round(float(v)) for v in corners)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), color, thickness, cv2.LINE_AA)
    return (x0, y0)


def _draw_skeleton(canvas: np.ndarray, pts: np.ndarray, valid: np.ndarray, bones: tuple[tuple[int, int], ...],
                   color: Color, line_t: int) -> None:
    """Bones between two ``valid`` joints, then a dot (radius ``line_t + 1`` px) on every valid joint;
    ``pts`` (J, 2) integer px."""
    for a, b in bones:
        if valid[a] and valid[b]:
            cv2.line(canvas, (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1])),
                     color, line_t, cv2.LINE_AA)
    for j in np.flatnonzero(valid):
        cv2.circle(canvas, (int(pts[j, 0]), int(pts[j, 1])), line_t + 1, color, -1, cv2.LINE_AA)


def _draw_label(canvas: np.ndarray, text: str, anchor: tuple[int, int], color: Color, font_scale: float,
                thickness: int) -> None:
    """Text on a filled box of the person's colour, above ``anchor`` if it fits, else just below it."""
    h, w = canvas.shape[:2]
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    x = int(np.clip(anchor[0], 0, max(0, w - tw - 2)))
    y_top = anchor[1] - th - base - 2
    if y_top < 0:
        y_top = max(0, anchor[1])
    y_top = int(min(y_top, max(0, h - th - base - 2)))
    cv2.rectangle(canvas, (x, y_top), (x + tw + 2, y_top + th + base + 2), color, -1)
    luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    text_color = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (x + 1, y_top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, text_color,
                thickness, cv2.LINE_AA)


@dataclass(frozen=True)
class ViewLimits:
    """Axis limits (mm, camera frame) of the two 3D panels; each is ``(low, high)``.

    ``front_x``/``front_y`` have equal spans, and so do ``top_x``/``top_z``.
    """

    front_x: tuple[float, float]
    front_y: tuple[float, float]
    top_x: tuple[float, float]
    top_z: tuple[float, float]


def view_limits(points_cam_mm: np.ndarray, margin: float = 0.1, min_span_mm: float = 500.0) -> ViewLimits:
    """Equal-span limits for the front (x, y) and top (x, z) views around the given points ``(N, 3)`` mm.

    Each view's span is the larger of its two data ranges, times ``1 + 2 * margin``, and at least
    ``min_span_mm``; each axis is centred on its data. Non-finite points are ignored; with no finite point
    the views are centred on the origin.
    """
    pts = np.asarray(points_cam_mm, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.shape[0] == 0:
        lo = hi = np.zeros(3)
    else:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
    mid, rng = (lo + hi) / 2.0, hi - lo

    def around(axis: int, span: float) -> tuple[float, float]:
        return (float(mid[axis] - span / 2.0), float(mid[axis] + span / 2.0))

    front = max(float(max(rng[0], rng[1])) * (1.0 + 2.0 * margin), min_span_mm)
    top = max(float(max(rng[0], rng[2])) * (1.0 + 2.0 * margin), min_span_mm)
    return ViewLimits(front_x=around(0, front), front_y=around(1, front), top_x=around(0, top),
                      top_z=around(2, top))


def figure_3d(people: Sequence[dict], skeleton: JointSet | Sequence[tuple[int, int]], title: str = "",
              colors: Sequence[Color] | None = None, size_px: tuple[int, int] = (960, 480), dpi: int = 100,
              labels: Sequence[str] | None = None, limits: ViewLimits | None = None) -> Figure:
    """The two-panel matplotlib figure behind :func:`draw_3d` (front view left, top view right).

    ``people``: dicts with ``joints_cam_mm`` ``(J, 3)`` (camera frame, mm); non-finite joints are skipped.
    ``size_px`` is ``(width, height)``. With no people the figure only says "no people detected". ``labels``
    name the people (default: their index); ``limits`` fix the axes (e.g. over a whole video, so the views do
    not rescale from frame to frame; default: around these people, :func:`view_limits`).
    The figure has an Agg canvas attached and is independent of pyplot.
    """
    width, height = (int(v) for v in size_px)
    if width <= 0 or height <= 0 or dpi <= 0:
        raise ValueError(f"size_px and dpi must be positive, got size_px={size_px}, dpi={dpi}")
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title)
    bones = _bones(skeleton)
    if len(people) == 0:
        fig.text(0.5, 0.5, "no people detected", ha="center", va="center", fontsize=16)
        return fig
    colors = _colors_for(len(people), colors)
    all_joints = [_person_joints(p, "joints_cam_mm", 3, i, bones) for i, p in enumerate(people)]
    lim = limits or view_limits(np.concatenate(all_joints, axis=0))

    ax_front = fig.add_subplot(1, 2, 1)
    ax_top = fig.add_subplot(1, 2, 2)
    for i, joints in enumerate(all_joints):
        c = bgr_to_mpl(colors[i])
        valid = np.isfinite(joints).all(axis=1)
        for ax, (u, v) in ((ax_front, (0, 1)), (ax_top, (0, 2))):
            for a, b in bones:
                if valid[a] and valid[b]:
                    ax.plot(joints[[a, b], u], joints[[a, b], v], color=c, linewidth=2)
            ax.plot(joints[valid, u], joints[valid, v], linestyle="none", marker="o", markersize=3, color=c)
        if valid.any():
            head = np.argmin(np.where(valid, joints[:, 1], np.inf))  # highest joint (camera y points down)
            name = str(i) if labels is None else str(labels[i])
            ax_front.annotate(name, (joints[head, 0], joints[head, 1]), textcoords="offset points",
                              xytext=(0, 6), ha="center", color=c, fontsize=9, fontweight="bold")
            mean = joints[valid].mean(axis=0)
            ax_top.annotate(name, (mean[0], mean[2]), textcoords="offset points", xytext=(6, 6),
                            color=c, fontsize=9, fontweight="bold")

    ax_front.set_xlim(*lim.front_x)
    ax_front.set_ylim(lim.front_y[1], lim.front_y[0])  # camera y points down: larger y at the bottom
    ax_front.set_xlabel("x (mm)")
    ax_front.set_ylabel("y (mm, camera y points down)")
    ax_front.set_title("front view (camera)")
    ax_top.set_xlim(*lim.top_x)
    ax_top.set_ylim(*lim.top_z)
    ax_top.set_xlabel("x (mm)")
    ax_top.set_ylabel("z depth (mm)")
    ax_top.set_title("top view")
    for ax in (ax_front, ax_top):
        ax.set_aspect("equal", adjustable="box")
        ax.grid(True, linewidth=0.5, alpha=0.5)
        ax.tick_params(labelsize=8)
    return fig


def render_figure(fig: Figure) -> np.ndarray:
    """Rasterise a figure with its Agg canvas (``buffer_rgba``) to a BGR ``uint8`` image."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def draw_3d(people: Sequence[dict], skeleton: JointSet | Sequence[tuple[int, int]], title: str = "",
            colors: Sequence[Color] | None = None, size_px: tuple[int, int] = (960, 480), dpi: int = 100,
            labels: Sequence[str] | None = None, limits: ViewLimits | None = None) -> np.ndarray:
    """Render :func:`figure_3d` to a BGR ``uint8`` image of about ``size_px`` = (width, height) px."""
    return render_figure(figure_3d(people, skeleton, title=title, colors=colors, size_px=size_px, dpi=dpi,
                                   labels=labels, limits=limits))


def side_by_side(img_a: np.ndarray, img_b: np.ndarray, height: int | None = None) -> np.ndarray:
    """Both images (grey/BGR/BGRA ``uint8``) as BGR, scaled to one height (default ``img_a``'s), left to right."""
    a = as_bgr(img_a, "img_a")
    b = as_bgr(img_b, "img_b")
    target = a.shape[0] if height is None else int(height)
    if target <= 0:
        raise ValueError(f"side_by_side: height must be positive, got {height}")

    def fit(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        if h == target:
            return img
        new_w = max(1, round(w * target / h))
        interp = cv2.INTER_AREA if target < h else cv2.INTER_LINEAR
        return cv2.resize(img, (new_w, target), interpolation=interp)

    return np.hstack([fit(a), fit(b)])


def encode_image(image: np.ndarray, ext: str, name: str | os.PathLike = "image") -> bytes:
    """A BGR (or grey) image encoded in the format of the extension ``ext`` (``".jpg"``, ``".png"``, anything
    ``cv2.imencode`` knows). Raises ``ValueError`` naming ``name`` (the destination) when it cannot be encoded."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ValueError(f"cannot save image to {name}: expected a non-empty numpy array, got "
                         f"{type(image).__name__} {getattr(image, 'shape', '')}")
    ext = ext.lower()
    if not ext:
        raise ValueError(f"cannot save image to {name}: the file name has no extension (e.g. .jpg or .png)")
    try:
        ok, encoded = cv2.imencode(ext, image)
    except cv2.error as e:
        raise ValueError(f"cannot encode a {image.dtype} image of shape {image.shape} as {ext!r} for {name}: "
                         f"{str(e).strip()}") from None
    if not ok:
        raise ValueError(f"cannot encode a {image.dtype} image of shape {image.shape} as {ext!r} for {name}")
    return encoded.tobytes()


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a BGR (or grey) image atomically: :func:`encode_image`, then
    :func:`posenet3d.fileio.write_bytes_atomic`.

    The format comes from the extension (anything ``cv2.imencode`` knows: .jpg, .png, ...). Missing parent
    folders are created. On failure an existing file at ``path`` is left untouched and the error names
    ``path``. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    data = encode_image(image, path.suffix, path)
    try:
        write_bytes_atomic(path, data)
    except OSError as e:
        raise OSError(f"cannot write image to {path}: {e}") from e
    return path
