"""Interactive 3D pages (plotly): one per image result, one per tracked video, viewable offline from ``file://``.

The pages are built from the demo's JSON (the dicts of :meth:`posenet3d.results.EstimateResult.to_dict`, and the
``.jsonl`` frame records of the video demo), so a page can be rebuilt from saved output. Each page loads
plotly.js from ``plotly.min.js`` in its own folder (:data:`PLOTLY_JS`, written once per folder from plotly's
offline bundle, :func:`plotly_js_bytes`): no CDN, no network.

**Frame and units.** Camera frame, millimetres: x right, y down, z forward; the camera sits at the origin and
its viewing frustum is drawn from the intrinsics (px) and the image size. Axes have equal scales. The view's
"up" is camera −y, so people stand upright. Person ``i`` of an image has the colour of person ``i`` in the 2D
overlay (:func:`posenet3d.vis.person_colors`); in a video, track ``t`` has ``person_colors(24)[t % 24]`` as in the
video overlay. Joints that are missing or not finite are left out (their bones too).
"""
from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence

import numpy as np

from posenet3d.vis import Color, person_colors

PLOTLY_JS = "plotly.min.js"
#: A video page holds at most this many frames; a longer video is sampled evenly (the page says so).
MAX_PAGE_FRAMES = 600
TRACK_PALETTE = person_colors(24)  # as the video overlay (posenet3d.commands.demo_video.PALETTE)
UNTRACKED_COLOR = (160, 160, 160)
FOOT_WORDS = ("Ankle", "Toe")
GRAPH_ID = "graph"


@functools.cache
def plotly_js_bytes() -> bytes:
    """plotly.js as shipped inside the installed ``plotly`` package (its offline bundle)."""
    from plotly.offline import get_plotlyjs
    return get_plotlyjs().encode("utf-8")


def css_rgb(color_bgr: Color) -> str:
    b, g, r = (int(c) for c in color_bgr)
    return f"rgb({r},{g},{b})"


def bone_chains(skeleton: Sequence[Sequence[int]]) -> list[list[int]]:
    """The bones ``(a, b)`` as few joint paths as greedily found: every bone lies in exactly one path, so a
    skeleton is one line trace with a gap between paths (MuCo's 20 bones: 4 paths, 27 points with the gaps)."""
    left = [tuple(int(v) for v in b) for b in skeleton]
    chains = []
    while left:
        a, b = left.pop(0)
        chain = [a, b]
        for at_end in (True, False):
            while True:
                tip = chain[-1] if at_end else chain[0]
                nxt = next((bone for bone in left if tip in bone), None)
                if nxt is None:
                    break
                left.remove(nxt)
                other = nxt[1] if nxt[0] == tip else nxt[0]
                chain.insert(len(chain) if at_end else 0, other)
        chains.append(chain)
    return chains


def chain_order(chains: list[list[int]]) -> list[int | None]:
    """The joint of each point of a skeleton trace (None: the gap between two paths)."""
    out: list[int | None] = []
    for k, chain in enumerate(chains):
        out += ([None] if k else []) + chain
    return out


def as_points(joints, n_joints: int) -> np.ndarray:
    """(J, 3) float mm with a NaN row for a joint that is missing (``None`` in JSON), not finite or not three
    numbers."""
    pts = np.full((n_joints, 3), np.nan)
    for j, row in enumerate(list(joints if joints is not None else [])[:n_joints]):
        try:
            xyz = np.array([np.nan if v is None else float(v) for v in row], dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if xyz.shape == (3,) and np.isfinite(xyz).all():
            pts[j] = xyz
    return pts


def trace_xyz(points: np.ndarray, order: list[int | None], digits: int = 1) -> tuple[list, list, list]:
    """x, y, z lists of a skeleton trace (None at gaps and at joints that are NaN)."""
    cols: tuple[list, list, list] = ([], [], [])
    for j in order:
        p = None if j is None or j >= len(points) else points[j]
        for axis in range(3):
            cols[axis].append(None if p is None or not np.isfinite(p[axis]) else round(float(p[axis]), digits))
    return cols


def _finite(points: np.ndarray) -> np.ndarray:
    return points[np.isfinite(points).all(axis=1)] if len(points) else points.reshape(0, 3)


def frustum_trace(intrinsics: dict, image_size: dict, depth_mm: float) -> dict:
    """The camera at the origin and its viewing frustum to ``depth_mm`` (a line trace, camera frame, mm)."""
    fx, fy, cx, cy = (float(intrinsics[k]) for k in ("fx", "fy", "cx", "cy"))
    w, h = float(image_size["width"]), float(image_size["height"])
    corners = [((u - cx) / fx * depth_mm, (v - cy) / fy * depth_mm, depth_mm)
               for u, v in ((-0.5, -0.5), (w - 0.5, -0.5), (w - 0.5, h - 0.5), (-0.5, h - 0.5))]
    pts: list = []
    for c in corners:
        pts += [(0.0, 0.0, 0.0), c, None]
    pts += [*corners, corners[0]]
    xs, ys, zs = ([None if p is None else round(p[a], 1) for p in pts] for a in range(3))
    return {"type": "scatter3d", "mode": "lines", "x": xs, "y": ys, "z": zs, "name": "camera",
            "line": {"color": "rgb(90,90,90)", "width": 3}, "hoverinfo": "name", "meta": {"kind": "camera"}}


def frustum_depth(points: np.ndarray) -> float:
    """A frustum depth (mm) that reaches a third of the way to the people (1 m without people)."""
    z = points[:, 2][np.isfinite(points[:, 2]) & (points[:, 2] > 0)] if len(points) else np.zeros(0)
    return float(np.clip(np.median(z) / 3.0, 200.0, 3000.0)) if len(z) else 1000.0


def fit_ground(feet_mm: np.ndarray, min_spread_mm: float = 150.0, max_tilt_deg: float = 35.0
               ) -> tuple[float, float, float] | None:
    """The plane ``y = a·x + b·z + c`` (camera frame, mm) fitted to foot joints by least squares, or None when
    the feet are too few (< 4), spread too little in x–z (smaller principal spread < ``min_spread_mm``) or the
    plane tilts more than ``max_tilt_deg`` away from the camera's x–z plane (not a floor seen by an upright
    camera)."""
    p = _finite(np.asarray(feet_mm, dtype=np.float64).reshape(-1, 3))
    if len(p) < 4:
        return None
    xz = p[:, [0, 2]]
    spread = np.sqrt(np.linalg.eigvalsh(np.cov(xz.T)))
    if spread[0] < min_spread_mm:
        return None
    design = np.column_stack([xz, np.ones(len(p))])
    (a, b, c), *_ = np.linalg.lstsq(design, p[:, 1], rcond=None)
    if math.degrees(math.atan(math.hypot(a, b))) > max_tilt_deg:
        return None
    return float(a), float(b), float(c)


def ground_trace(plane: tuple[float, float, float], points: np.ndarray, margin_mm: float = 500.0) -> dict:
    """The fitted ground as a translucent quad under the people's x–z extent (plus ``margin_mm``)."""
    a, b, c = plane
    p = _finite(points)
    x0, x1 = p[:, 0].min() - margin_mm, p[:, 0].max() + margin_mm
    z0, z1 = p[:, 2].min() - margin_mm, p[:, 2].max() + margin_mm
    xs, zs = [x0, x1, x1, x0], [z0, z0, z1, z1]
    ys = [a * x + b * z + c for x, z in zip(xs, zs)]
    r = lambda v: [round(float(u), 1) for u in v]  # noqa: E731
    return {"type": "mesh3d", "x": r(xs), "y": r(ys), "z": r(zs), "i": [0, 0], "j": [1, 2], "k": [2, 3],
            "color": "rgb(120,160,120)", "opacity": 0.25, "name": "ground (fit to feet)", "showlegend": True,
            "hoverinfo": "name", "meta": {"kind": "ground"}}


def feet_points(people_points: list[np.ndarray], joint_names: Sequence[str]) -> np.ndarray:
    idx = [i for i, n in enumerate(joint_names) if any(w in n for w in FOOT_WORDS)]
    if not idx or not people_points:
        return np.zeros((0, 3))
    return np.concatenate([p[idx] for p in people_points])


def scene_layout(ranges: list[tuple[float, float]] | None = None) -> dict:
    """A 3D scene with equal axis scales (from the data, or ``ranges`` (x, y, z) mm and the matching aspect
    ratio), viewed from behind the camera with camera −y up."""
    axes = {f"{a}axis": {"title": {"text": f"{a} (mm, {d})"}} for a, d in zip("xyz", ("right", "down", "forward"))}
    scene: dict = {**axes, "aspectmode": "data",
                   "camera": {"up": {"x": 0, "y": -1, "z": 0}, "eye": {"x": 0.5, "y": -0.65, "z": -1.25}}}
    if ranges is not None:
        spans = [hi - lo for lo, hi in ranges]
        top = max(spans)
        for a, r in zip("xyz", ranges):
            scene[f"{a}axis"]["range"] = [round(r[0], 1), round(r[1], 1)]
            scene[f"{a}axis"]["autorange"] = False
        scene["aspectmode"] = "manual"
        scene["aspectratio"] = {a: s / top for a, s in zip("xyz", spans)}
    return scene


def _page(title: str, lines: Sequence[str], figure: dict, image_src: str | None) -> str:
    """The HTML page: a heading, lines of text, the overlay image (if any) beside the plotly graph."""
    import plotly.io as pio
    graph = pio.to_html(figure, include_plotlyjs="directory", full_html=False, div_id=GRAPH_ID, validate=False,
                        auto_play=False, config={"responsive": True, "displaylogo": False},
                        default_height="100%", default_width="100%")
    image = (f'<figure class="overlay"><img src="{html.escape(image_src)}" alt="2D overlay">'
             f"<figcaption>2D overlay (colours as in the 3D view)</figcaption></figure>") if image_src else ""
    text = "".join(f'<p class="{cls}">{html.escape(t)}</p>' for cls, t in lines)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: sans-serif; margin: 0.8em; }} h1 {{ font-size: 1.2em; margin: 0.2em 0; }}
p {{ margin: 0.2em 0; }} p.empty, p.sampled {{ font-weight: bold; color: #a33; }} p.note {{ color: #555; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }}
.overlay {{ margin: 0; flex: 0 1 40%; min-width: 260px; }} .overlay img {{ max-width: 100%; }}
.plot {{ flex: 1 1 55%; min-width: 360px; height: 80vh; }}
</style></head>
<body><h1>{html.escape(title)}</h1>{text}
<div class="row">{image}<div class="plot">{graph}</div></div>
</body></html>
"""


# ------------------------------------------------------------------------------------------ image page --

def image_figure(doc: dict) -> tuple[dict, int]:
    """(plotly figure as a dict, people drawn) for one result dict: a skeleton trace per person (legend entry
    ``person i``), the camera frustum and, where the feet allow, the ground plane."""
    names = list(doc.get("joint_names") or [])
    order = chain_order(bone_chains(doc.get("skeleton") or []))
    people = doc.get("people") or []
    colors = person_colors(len(people))
    traces, points = [], []
    for i, person in enumerate(people):
        pts = as_points(person.get("joints_cam_mm"), len(names))
        conf = person.get("joint_conf") or [None] * len(pts)
        points.append(pts)
        x, y, z = trace_xyz(pts, order)
        hover = []
        for j in order:
            if j is None or not np.isfinite(pts[j]).all():
                hover.append("")
                continue
            c = conf[j] if j < len(conf) else None
            hover.append(f"person {i} · {names[j] if j < len(names) else j}<br>x {pts[j][0]:.0f}, y "
                         f"{pts[j][1]:.0f}, z {pts[j][2]:.0f} mm<br>confidence "
                         + ("n/a" if c is None else f"{c:.2f}"))
        traces.append({"type": "scatter3d", "mode": "lines+markers", "x": x, "y": y, "z": z, "name": f"person {i}",
                       "legendgroup": f"person {i}", "line": {"color": css_rgb(colors[i]), "width": 6},
                       "marker": {"color": css_rgb(colors[i]), "size": 3}, "hovertext": hover, "hoverinfo": "text",
                       "meta": {"kind": "person", "person": i}})
    allpts = np.concatenate(points) if points else np.zeros((0, 3))
    extra = [frustum_trace(doc["intrinsics"], doc["image_size"], frustum_depth(allpts))]
    plane = fit_ground(feet_points(points, names))
    if plane is not None:
        extra.append(ground_trace(plane, allpts))
    ranges, camera_in_view = clip_ranges(allpts)
    layout = {"scene": scene_layout(ranges), "meta": {"camera_in_view": camera_in_view},
              "margin": {"l": 0, "r": 0, "t": 30, "b": 0},
              "legend": {"title": {"text": "click to show / hide"}}, "uirevision": "keep",
              "title": {"text": "nobody found" if not people else "camera frame, mm"}}
    return {"data": traces + extra, "layout": layout}, len(people)


def image_page(doc: dict, image_src: str | None = None, title: str | None = None) -> str:
    """The HTML page of one image result (``doc``: :meth:`EstimateResult.to_dict`, optionally with ``input``);
    ``image_src``: the overlay image's address relative to the page (shown beside the 3D view)."""
    figure, n = image_figure(doc)
    f = doc["intrinsics"]
    lines = [("summary", f"{n} {'person' if n == 1 else 'people'} · camera frame (x right, y down, z forward), "
                         f"mm · camera at the origin, fx={f['fx']:g} px, fy={f['fy']:g} px")]
    if not figure["layout"]["meta"]["camera_in_view"]:
        lines.append(("note", "The people are far from the camera: the view shows them, the camera at the origin "
                              "is outside it (zoom out to see it)."))
    if n == 0:
        lines.append(("empty", "Nobody was found in this image: only the camera is drawn."))
    if not any(t["meta"]["kind"] == "ground" for t in figure["data"]) and n:
        lines.append(("note", "No ground plane: the feet are too few or too close together to fit one."))
    lines += [("note", f"note: {t}") for t in doc.get("notes") or []]
    return _page(title or str(doc.get("input", "result")), lines, figure, image_src)


# ------------------------------------------------------------------------------------------ video page --

def sample_frames(n: int, max_frames: int = MAX_PAGE_FRAMES) -> list[int]:
    """Indices of the records a page shows: all of them, or evenly spaced ``max_frames`` of a longer video."""
    if n <= max_frames:
        return list(range(n))
    return sorted({int(round(k)) for k in np.linspace(0, n - 1, max_frames)})


def _frame_people(record: dict, n_joints: int) -> list[tuple[int | None, np.ndarray, list]]:
    out = []
    for person in record.get("people") or []:
        joints = person.get("joints_cam_mm_smoothed", person.get("joints_cam_mm"))
        out.append((person.get("track_id"), as_points(joints, n_joints), person.get("joint_conf") or []))
    return out


def video_figure(records: Sequence[dict], fps: float, trail_frames: int = 0,
                 max_frames: int = MAX_PAGE_FRAMES) -> tuple[dict, list[int]]:
    """(plotly figure dict with one frame per shown record, the record indices shown).

    One skeleton trace per track id for the whole video (legend: ``id t``, its overlay colour), a few grey
    traces for the people of a frame whose track is still tentative, the trails (each track's root over the
    last ``trail_frames`` video frames; 0: none), the camera; axes fixed over the clip."""
    if not records:
        raise ValueError("a video page needs at least one frame record")
    names = list(records[0].get("joint_names") or [])
    order = chain_order(bone_chains(records[0].get("skeleton") or []))
    root = names.index("Pelvis") if "Pelvis" in names else 0
    shown = sample_frames(len(records), max_frames)
    per_frame = [_frame_people(r, len(names)) for r in records]
    track_ids = sorted({t for people in per_frame for t, _, _ in people if t is not None})
    untracked = max((sum(t is None for t, _, _ in people) for people in per_frame), default=0)
    slot = {t: k for k, t in enumerate(track_ids)}
    text = ["" if j is None else names[j] for j in order]
    base = []
    for t in track_ids:
        color = css_rgb(TRACK_PALETTE[t % len(TRACK_PALETTE)])
        base.append({"type": "scatter3d", "mode": "lines+markers", "name": f"id {t}", "legendgroup": f"id {t}",
                     "line": {"color": color, "width": 6}, "marker": {"color": color, "size": 3}, "text": text,
                     "hovertemplate": f"id {t} · %{{text}}<br>x %{{x:.0f}}, y %{{y:.0f}}, z %{{z:.0f}} mm"
                                      "<br>confidence %{customdata:.2f}<extra></extra>",
                     "meta": {"kind": "person", "track": t}})
    for k in range(untracked):
        base.append({"type": "scatter3d", "mode": "lines+markers", "name": "tentative" if k == 0 else f"tentative {k}",
                     "legendgroup": "tentative", "showlegend": k == 0, "text": text,
                     "line": {"color": css_rgb(UNTRACKED_COLOR), "width": 4},
                     "marker": {"color": css_rgb(UNTRACKED_COLOR), "size": 2},
                     "hovertemplate": "tentative track · %{text}<br>x %{x:.0f}, y %{y:.0f}, z %{z:.0f} mm"
                                      "<extra></extra>", "meta": {"kind": "person", "track": None}})
    n_people_traces = len(base)
    if trail_frames > 0:
        for t in track_ids:
            color = css_rgb(TRACK_PALETTE[t % len(TRACK_PALETTE)])
            base.append({"type": "scatter3d", "mode": "lines", "name": f"id {t} trail", "legendgroup": f"id {t}",
                         "showlegend": False, "line": {"color": color, "width": 2}, "hoverinfo": "skip",
                         "meta": {"kind": "trail", "track": t}})
    found: dict[int, list[tuple[int, np.ndarray]]] = {t: [] for t in track_ids}
    for r, people in zip(records, per_frame):
        for t, pts, _ in people:
            if t is not None and np.isfinite(pts[root]).all():
                found[t].append((int(r["frame"]), np.round(pts[root]).astype(int).tolist()))
    # per track: its frames (ascending, as the records are) and root positions rounded to 1 mm
    roots = {t: (np.array([f for f, _ in v], dtype=np.int64), [p for _, p in v]) for t, v in found.items()}

    def frame_data(i: int) -> list[dict]:
        data = [{"x": [], "y": [], "z": [], "customdata": []} for _ in range(n_people_traces)]
        k_untracked = len(track_ids)
        for t, pts, conf in per_frame[i]:
            k = slot[t] if t is not None else k_untracked
            k_untracked += t is None
            x, y, z = trace_xyz(pts, order, digits=0)
            custom = [None if j is None or j >= len(conf) or conf[j] is None else round(float(conf[j]), 2)
                      for j in order]
            data[k] = {"x": x, "y": y, "z": z, "customdata": custom}
        if trail_frames > 0:
            now = int(records[i]["frame"])
            for t in track_ids:
                frames_t, pts_t = roots[t]
                lo, hi = np.searchsorted(frames_t, [now - trail_frames, now], side="left")
                hi += hi < len(frames_t) and frames_t[hi] == now
                path = pts_t[lo:hi]
                data.append({"x": [p[0] for p in path], "y": [p[1] for p in path], "z": [p[2] for p in path]})
        return data

    pts_all = [pts for people in per_frame for _, pts, _ in people]
    allpts = _finite(np.concatenate(pts_all)) if pts_all else np.zeros((0, 3))
    camera = frustum_trace(records[0]["intrinsics"], records[0]["image_size"], frustum_depth(allpts))
    heading = "camera frame, mm" if track_ids or untracked else "nobody found"
    frames = [{"name": str(records[i]["frame"]), "data": frame_data(i), "traces": list(range(len(base))),
               "layout": {"title": {"text": f"frame {records[i]['frame']} · {records[i]['frame'] / fps:.2f} s · "
                                            f"{heading}"}}} for i in shown]
    every = max(1, math.ceil(len(frames) / 12))  # a label on every step of a long slider costs time and overlaps
    first = frames[0]["data"]
    data = [{**b, **d} for b, d in zip(base, first)] + [camera]
    ranges, camera_in_view = clip_ranges(allpts)
    step_ms = 1000.0 / fps * (len(records) / len(shown))
    anim = {"frame": {"duration": round(step_ms), "redraw": True}, "transition": {"duration": 0},
            "fromcurrent": True, "mode": "immediate"}
    still = {"frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}, "mode": "immediate"}
    layout = {"scene": scene_layout(ranges), "meta": {"camera_in_view": camera_in_view},
              "margin": {"l": 0, "r": 0, "t": 30, "b": 0}, "uirevision": "keep",
              "title": frames[0]["layout"]["title"], "legend": {"title": {"text": "click to show / hide"}},
              "updatemenus": [{"type": "buttons", "showactive": False, "x": 0.0, "y": 0.0, "xanchor": "left",
                               "yanchor": "top", "direction": "left", "pad": {"t": 40, "r": 10},
                               "buttons": [{"label": "play", "method": "animate", "args": [None, anim]},
                                           {"label": "pause", "method": "animate",
                                            "args": [[None], {**still, "frame": {"duration": 0, "redraw": False}}]}]}],
              "sliders": [{"active": 0, "x": 0.12, "len": 0.88, "y": 0.0, "yanchor": "top", "pad": {"t": 30},
                           "currentvalue": {"visible": False},
                           "steps": [{"label": f["name"] if k % every == 0 else "", "value": f["name"],
                                      "method": "animate", "args": [[f["name"]], still]}
                                     for k, f in enumerate(frames)]}]}
    return {"data": data, "layout": layout, "frames": frames}, shown


def clip_ranges(points: np.ndarray, margin: float = 0.1) -> tuple[list[tuple[float, float]], bool]:
    """(x, y, z ranges in mm, whether the camera is in them): around the joints (their 2nd–98th percentiles when
    there are many, so a few wild depths do not shrink everybody), with the camera at the origin included when
    the nearest people are within 5 times their x–y extent (at least 1.5 m) of it (else the view would be a thin
    tube), plus ``margin`` of the span on each side, each span at least 500 mm."""
    p = _finite(points)
    if len(p) == 0:
        lo, hi = np.array([-1000.0, -1000.0, 0.0]), np.array([1000.0, 1000.0, 3000.0])
    elif len(p) >= 200:
        lo, hi = np.percentile(p, 2, axis=0), np.percentile(p, 98, axis=0)
    else:
        lo, hi = p.min(axis=0), p.max(axis=0)
    camera = bool(lo[2] <= 5.0 * max(float((hi - lo)[:2].max()), 1500.0))
    if camera:
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    centre, span = (lo + hi) / 2, np.maximum(hi - lo, 500.0)
    return [(float(c - (0.5 + margin) * s), float(c + (0.5 + margin) * s)) for c, s in zip(centre, span)], camera


def video_page(records: Sequence[dict], fps: float, title: str, trail_frames: int = 0,
               max_frames: int = MAX_PAGE_FRAMES) -> str:
    """The HTML page of a tracked video from its ``.jsonl`` frame records (:func:`video_figure`)."""
    figure, shown = video_figure(records, fps, trail_frames, max_frames)
    tracks = sum(1 for t in figure["data"] if t["meta"].get("kind") == "person" and t["meta"]["track"] is not None)
    lines = [("summary", f"{len(records)} frames at {fps:g} fps, {tracks} tracks · camera frame (x right, y down, "
                         "z forward), mm · camera at the origin · slider / play to move in time")]
    if len(shown) < len(records):
        lines.append(("sampled", f"Long video: the page shows {len(shown)} of its {len(records)} frames, evenly "
                                 f"sampled (about every {len(records) / len(shown):.1f}th); the .jsonl file has "
                                 "every frame."))
    if figure["layout"]["title"]["text"].endswith("nobody found"):
        lines.append(("empty", "Nobody was found in this video: only the camera is drawn."))
    if not figure["layout"]["meta"]["camera_in_view"]:
        lines.append(("note", "The people are far from the camera: the view shows them, the camera at the origin "
                              "is outside it (zoom out to see it)."))
    if trail_frames > 0:
        lines.append(("note", f"Trails: each track's root over the last {trail_frames} frames."))
    return _page(title, lines, figure, None)


def have_plotly() -> bool:
    """Whether plotly (the ``viewer`` extra) is installed."""
    import importlib.util
    return importlib.util.find_spec("plotly") is not None
