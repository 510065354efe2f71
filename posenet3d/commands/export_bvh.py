"""Export the tracks of a video as BVH animations, one file per track, for Blender, Unity or MotionBuilder.

Reads a tracks file the video demo wrote (``<name>_tracks.json``) and writes, into ``--out``,
``<name>_id<track>.bvh`` per track of at least 2 frames and ``<name>_bvh.json`` (per track: the file, the video
frame and time it starts at, frames, frames interpolated over gaps, bone lengths, notes). Skeleton: the joint
set's bone tree with the track's median bone lengths; rotations by inverse kinematics; the root's translation;
frame time 1 / the video's fps. Units mm; axes: the camera frame (x right, y down, z forward), or with
``--y-up`` a right-handed Y-up frame (x right, y up, z towards the camera). Details: docs/export.md.

    posenet3d export-bvh output/vis/clip_tracks.json --out output/bvh
    posenet3d export-bvh output/vis/clip_tracks.json --out output/bvh --y-up --raw

Exit code: 0 when written, 1 when no track could be exported, 2 for a bad argument or an unreadable tracks file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from posenet3d.bvh import BvhError, track_to_bvh
from posenet3d.commands import command_parser
from posenet3d.fileio import write_files_atomic
from posenet3d.skeletons import JOINT_SETS

INDEX_FORMAT = "posenet3d-bvh-export"


def root_index(joint_names: list[str]) -> int:
    """The root joint of a tracks file's joint order: that of the joint set with exactly these names (MuCo,
    MuPoTS, …), else ``Pelvis``; :class:`BvhError` otherwise."""
    for js in JOINT_SETS.values():
        if list(js.joints_name) == list(joint_names):
            return js.root_idx
    if "Pelvis" in joint_names:
        return list(joint_names).index("Pelvis")
    raise BvhError(f"no root joint: the joint names {joint_names} are no known joint set and have no Pelvis")


def export_tracks(doc: dict, stem: str, y_up: bool = False, smoothed: bool = True
                  ) -> tuple[dict[str, str], dict, list[str]]:
    """({file name: BVH text}, the index document, notes) of a tracks document (``<name>_tracks.json``).
    A track shorter than 2 frames (or without usable joints) gets no file, a note, and ``file: null``."""
    names, bones, fps = doc["joint_names"], doc["skeleton"], float(doc["fps"])
    root = root_index(names)
    key = "joints_cam_mm_smoothed" if smoothed else "joints_cam_mm"
    files: dict[str, str] = {}
    notes: list[str] = []
    entries = []
    short: list[int] = []
    for track in doc["tracks"]:
        tid = int(track["track_id"])
        entry: dict = {"track_id": tid, "file": None, "first_frame": int(track["frames"][0]) if track["frames"]
                       else None, "frames": len(track["frames"]), "filled_frames": 0, "bone_lengths_mm": {},
                       "note": None}
        try:
            out = track_to_bvh(track["frames"], track[key], names, bones, root, fps, y_up=y_up)
        except BvhError as exc:
            entry["note"] = f"no BVH: {exc}"
            if len(track["frames"]) < 2:
                short.append(tid)
            else:
                notes.append(f"track {tid}: {entry['note']}")
            entries.append(entry)
            continue
        name = f"{stem}_id{tid}.bvh"
        files[name] = out.text
        entry.update(file=name, first_frame=out.first_frame, start_time_s=round(out.first_frame / fps, 4),
                     frames=out.frames, filled_frames=out.filled, bone_lengths_mm=out.bone_lengths_mm)
        if out.filled:
            entry["note"] = f"{out.filled} frames the track missed were interpolated linearly"
        entries.append(entry)
    if short:
        notes.insert(0, f"{len(short)} {'track' if len(short) == 1 else 'tracks'} shorter than 2 frames, so no BVH: "
                        f"id {', '.join(map(str, short))}")
    index = {"format": INDEX_FORMAT, "source": doc.get("input"), "fps": fps, "frame_time_s": 1.0 / fps,
             "joints": "joints_cam_mm_smoothed" if smoothed else "joints_cam_mm", "units": "mm",
             "axes": ("Y-up right-handed: x right, y up, z towards the camera (camera frame turned 180 deg about x)"
                      if y_up else "camera frame: x right, y down, z forward"),
             "root_joint": names[root], "tracks": entries}
    return files, index, notes


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    prog = prog or "posenet3d export-bvh"
    p = command_parser(prog, __doc__)
    p.add_argument("tracks_file", help="a <name>_tracks.json the video demo wrote")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--y-up", action="store_true", help="Y-up right-handed axes (Blender, Unity) instead of the "
                                                      "camera frame")
    p.add_argument("--raw", action="store_true", help="the raw joints instead of the smoothed ones")
    args = p.parse_args(argv)
    src = Path(args.tracks_file)
    try:
        doc = json.loads(src.read_text())
        if not isinstance(doc, dict) or not {"joint_names", "skeleton", "fps", "tracks"} <= set(doc):
            raise ValueError("not a tracks file (needs joint_names, skeleton, fps, tracks)")
        stem = src.stem.removesuffix("_tracks")
        files, index, notes = export_tracks(doc, stem, args.y_up, smoothed=not args.raw)
    except (OSError, ValueError, KeyError, TypeError, BvhError) as exc:
        print(f"{prog}: error: {src}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"{prog}: error: --out {out}: exists and is not a folder", file=sys.stderr)
        return 2
    blobs = {out / n: t.encode() for n, t in files.items()}
    blobs[out / f"{stem}_bvh.json"] = json.dumps(index, indent=1, allow_nan=False).encode()
    write_files_atomic(blobs)
    for n in notes:
        print(f"note: {n}")
    print(f"{len(files)} of {len(doc['tracks'])} tracks → {out} ({', '.join(sorted(files)) or 'no BVH'}, "
          f"{stem}_bvh.json)")
    return 0 if files or not doc["tracks"] else 1
