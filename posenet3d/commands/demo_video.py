"""The demo on a video: every person tracked with a stable id and colour, smoothed in 3D, views on fixed axes.

Two passes over the frames. The first decodes (in a background thread), estimates, tracks and — online —
smooths; the second decodes again and draws each frame with the track's colour and id, the 3D views on axes
fixed for the whole clip. Outputs per video (written together, or not at all): ``<name>_vis.mp4`` (overlay,
beside the 3D views unless ``--no-video-3d``), ``<name>.jsonl`` (one JSON object per frame: the people with
``track_id`` and ``joints_cam_mm_smoothed``) and ``<name>_tracks.json`` (per track: frames, raw and smoothed 3D
joints in mm, 2D joints in px, joint confidences, boxes, scores). Formats: docs/output-format.md.
"""
from __future__ import annotations

import json
from itertools import dropwhile, takewhile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from posenet3d.media import InputItem, MediaError, VideoReader, prefetch
from posenet3d.results import EstimateResult
from posenet3d.video import TrackedFrame, VideoTracker
from posenet3d.viewer import PLOTLY_JS, plotly_js_bytes, video_page
from posenet3d.vis import draw_2d, draw_3d, person_colors, side_by_side, view_limits

FIGURE_3D_SIZE = (960, 480)  # (W, H) px of the 3D views
PALETTE = person_colors(24)  # track t is drawn in PALETTE[t % 24], the same colour in every frame


def _frames(path: Path, start: int, max_frames: int | None):
    """(reader, frames from ``start``, at most ``max_frames``) of a video; the reader reports fps and gaps."""
    reader = VideoReader(path)
    stop = None if max_frames is None else start + max_frames
    frames = dropwhile(lambda item: item[0] < start, iter(reader))  # by frame index: skipped frames count
    return reader, frames if stop is None else takewhile(lambda item: item[0] < stop, frames)


def track_video(est, item: InputItem, camera: dict, smooth: str, start: int, max_frames: int | None,
                cfg) -> tuple[list[TrackedFrame], dict, float, list[str], MediaError | None]:
    """Pass 1: estimate, track and smooth every frame. (frames, tracks, fps, notes, the error of a video that
    ended early or None)."""
    notes: list[str] = []
    reader, frames = _frames(item.path, start, max_frames)
    with reader:
        if reader.fps_reported is None:
            notes.append(f"{item.path.name} gives no frame rate: assumed {reader.fps:g} fps")
        vt = VideoTracker(est.joint_set.root_idx, reader.fps, smooth, cfg.tracker, cfg.smoothing)
        out: list[TrackedFrame] = []
        bar = tqdm(total=max_frames or (reader.frame_count - start if reader.frame_count else None),
                   desc=f"{item.path.name} (tracking)", unit="frame", disable=None, leave=False)
        with bar:
            for index, frame in prefetch(frames):
                out.append(vt.update(index, est.estimate(frame, **camera)))
                bar.update(1)
        if not out:
            raise MediaError(f"{item.path}: no frame could be read" + (f" from frame {start} on" if start else ""))
        if reader.skipped:
            notes.append(f"{item.path.name}: {len(reader.skipped)} frame(s) could not be decoded and were skipped "
                         f"(tracks continue across the gap): {_frame_list(reader.skipped)}")
        problem = None
        try:
            reader.check_complete()
        except MediaError as exc:
            problem = exc if max_frames is None else None
        tracks = vt.tracks()
        for tf in out:  # offline: a track joined to an earlier one is shown under that one's id in every frame
            tf.track_ids = [vt.id_map.get(t, t) for t in tf.track_ids]
        return out, tracks, reader.fps, notes, problem


def _frame_list(indices: list[int], at_most: int = 10) -> str:
    """``"12, 40, 41"`` — the first ``at_most`` frame indices, then how many more."""
    head = ", ".join(str(i) for i in indices[:at_most])
    return head + (f" and {len(indices) - at_most} more" if len(indices) > at_most else "")


def smoothed_joints(frames: list[TrackedFrame], tracks: dict, smooth: str) -> list[list[np.ndarray]]:
    """Per frame and person, the joints to draw and report: online as tracked, offline from the whole-track
    smoothing, the raw joints for tentative people or without smoothing."""
    if smooth != "offline":
        return [tf.smoothed_cam_mm for tf in frames]
    lookup = {(tid, int(f)): t["smoothed_cam_mm"][i] for tid, t in tracks.items() for i, f in enumerate(t["frames"])}
    return [[lookup.get((tid, tf.index), raw) for tid, raw in zip(tf.track_ids, tf.smoothed_cam_mm)]
            for tf in frames]


def render_frame(frame: np.ndarray, tf: TrackedFrame, joints: list[np.ndarray], title: str, limits,
                 with_3d: bool) -> np.ndarray:
    """The overlay (and 3D views on ``limits``) of one tracked frame, colours and labels by track id."""
    result: EstimateResult = tf.result
    labels = ["?" if t is None else f"id {t}" for t in tf.track_ids]
    colors = [(160, 160, 160) if t is None else PALETTE[t % len(PALETTE)] for t in tf.track_ids]
    people = [{"bbox": p.bbox, "score": p.score, "joints_2d": p.joints_2d_px, "joints_cam_mm": j}
              for p, j in zip(result.people, joints)]
    overlay = draw_2d(frame, people, result.skeleton, colors=colors, labels=labels)
    if not with_3d:
        return overlay
    views = draw_3d(people, result.skeleton, title=title, colors=colors, labels=labels, size_px=FIGURE_3D_SIZE,
                    limits=limits)
    return side_by_side(overlay, views)


def clip_limits(joints: list[list[np.ndarray]]):
    """Fixed 3D view limits for the whole clip around the drawn joints' 2nd–98th percentiles per axis, so that a
    few frames with a wild depth do not shrink everybody else (None when nobody was seen)."""
    pts = [j for frame in joints for j in frame]
    if not pts:
        return None
    p = np.concatenate(pts, axis=0)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        return None
    low, high = np.percentile(p, 2, axis=0), np.percentile(p, 98, axis=0)
    return view_limits(p[((p >= low) & (p <= high)).all(axis=1)] if len(p) >= 50 else p)


def frame_record(item: InputItem, tf: TrackedFrame, joints: list[np.ndarray], fps: float) -> dict:
    """One ``.jsonl`` line: the estimator's result with each person's ``track_id`` and smoothed joints."""
    d = tf.result.to_dict()
    for person, tid, j in zip(d["people"], tf.track_ids, joints):
        person["track_id"] = tid
        person["joints_cam_mm_smoothed"] = np.round(np.asarray(j, dtype=np.float64), 3).tolist()
    return {"input": str(item.path), "frame": tf.index, "time_s": round(tf.index / fps, 4), **d}


def tracks_document(item: InputItem, tracks: dict, fps: float, smooth: str, joint_names, skeleton) -> dict:
    """The ``_tracks.json`` content: per track its frames and per-frame arrays (units in ``units``)."""
    def plain(a, digits=3):
        return np.round(np.asarray(a, dtype=np.float64), digits).tolist()

    return {"input": str(item.path), "fps": fps, "smoothing": smooth, "joint_names": list(joint_names),
            "skeleton": [list(b) for b in skeleton],
            "units": {"joints_cam_mm": "mm, camera frame (x right, y down, z forward)", "joints_2d_px": "px",
                      "boxes_xywh_px": "px [x, y, w, h]", "joint_conf": "0..1", "frames": "frame index from 0",
                      "interpolated": "true: a gap filled offline, nobody seen (joint_conf and scores 0)"},
            "tracks": [{"track_id": tid, "frames": [int(f) for f in t["frames"]],
                        "joints_cam_mm": plain(t["joints_cam_mm"]),
                        "joints_cam_mm_smoothed": plain(t["smoothed_cam_mm"]),
                        "joints_2d_px": plain(t["joints_2d_px"], 2), "joint_conf": plain(t["joint_conf"], 4),
                        "boxes_xywh_px": plain(t["boxes_xywh_px"], 2), "scores": plain(t["scores"], 4),
                        "interpolated": [bool(v) for v in t["interpolated"]]}
                       for tid, t in tracks.items()]}


def process_video(est, item: InputItem, out, base: str, camera: dict, with_3d: bool, smooth: str = "online",
                  start: int = 0, max_frames: int | None = None, cfg=None, html: bool = True, trail_frames: int = 0,
                  bvh: bool = False, bvh_y_up: bool = False) -> tuple[str, list[str]]:
    """Both passes for one video; (summary line, notes). ``out``: the demo's output folder object; ``html``: also
    the 3D page ``<base>_3d.html`` (:func:`posenet3d.viewer.video_page`, trails over ``trail_frames``);
    ``bvh``: also a BVH animation per track (:mod:`posenet3d.commands.export_bvh`)."""
    from posenet3d.commands.demo_outputs import plotly_js_paths
    from posenet3d.config import Config
    cfg = cfg or Config()
    paths = [out.folder / f"{base}_vis.mp4", out.folder / f"{base}.jsonl", out.folder / f"{base}_tracks.json"]
    extra = [out.folder / f"{base}_3d.html", *plotly_js_paths(out)] if html else []
    out.check(item, paths + extra)  # before any work
    frames, tracks, fps, notes, problem = track_video(est, item, camera, smooth, start, max_frames, cfg)
    joints = smoothed_joints(frames, tracks, smooth)
    limits = clip_limits(joints)
    doc = tracks_document(item, tracks, fps, smooth, est.joint_names, frames[0].result.skeleton)
    blobs: dict[Path, bytes] = {}
    if bvh:
        from posenet3d.commands.export_bvh import export_tracks
        files, index, bvh_notes = export_tracks(doc, base, y_up=bvh_y_up)
        blobs.update({out.folder / n: t.encode() for n, t in files.items()})
        blobs[out.folder / f"{base}_bvh.json"] = json.dumps(index, indent=1, allow_nan=False).encode()
        notes += bvh_notes
    records = []
    with out.writing(item, paths + extra + list(blobs), keep_suffix=True) as temps:
        tmp_video, tmp_lines, tmp_tracks = temps[:3]
        writer = None
        reader, decoded = _frames(item.path, start, frames[-1].index + 1 - start)  # the same frames again
        with reader, open(tmp_lines, "w") as lines:
            for (index, frame), tf, j in zip(prefetch(decoded), frames, joints):
                canvas = render_frame(frame, tf, j, f"{item.path.name} frame {index}", limits, with_3d)
                if writer is None:
                    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (canvas.shape[1], canvas.shape[0]))
                    if not writer.isOpened():
                        raise MediaError(f"{paths[0]}: OpenCV cannot write an mp4v video here")
                writer.write(canvas)
                records.append(frame_record(item, tf, j, fps))
                lines.write(json.dumps(records[-1], allow_nan=False) + "\n")
        if writer is not None:
            writer.release()
        tmp_tracks.write_text(json.dumps(doc, allow_nan=False))
        if html:
            temps[3].write_text(video_page(records, fps, item.path.name, trail_frames))
            for tmp in temps[4:4 + len(extra) - 1]:
                tmp.write_bytes(plotly_js_bytes())
        for tmp, blob in zip(temps[3 + len(extra):], blobs.values()):
            tmp.write_bytes(blob)
    if problem is not None:  # what was read is kept (and tracked); the input still counts as failed
        raise MediaError(f"{problem} (the {len(frames)} frames read were tracked and written to "
                         f"{', '.join(p.name for p in paths)})")
    people = sum(len(tf.track_ids) for tf in frames)
    names = [p.name for p in paths + extra if p.name != PLOTLY_JS]
    names += [f"{sum(n.suffix == '.bvh' for n in blobs)} BVH files"] if bvh else []
    summary = (f"{len(frames)} frames at {fps:g} fps, {people} person detections in {len(tracks)} tracks "
               f"(smoothing {smooth}) → " + ", ".join(names))
    return summary, notes
