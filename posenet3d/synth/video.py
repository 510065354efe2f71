"""Write synthetic video clips to disk: JPEG frames, a MuPoTS-3D-layout file per clip, a tracks file per clip.

Layout under ``out_dir`` (clip ``n`` counts from 1; see ``data/Synthetic/README.md``, section "Video")::

    meta.json                                       generator, version, seed, size, fps, counts, per-clip summary
    clips/C{n:03d}/frames/{frame:06d}.jpg           the frames (JPEG quality 90), frame counts from 0
    clips/C{n:03d}/tracks.json                      ids, boxes, 2D/3D joints, visibility per frame, camera, episodes
    clips/C{n:03d}/data/MuPoTS-3D.json              MuPoTS-3D layout: file_name "TS{n}/img_{frame:06d}.jpg"
    clips/C{n:03d}/data/MultiPersonTestSet/TS{n}/img_{frame:06d}.jpg    relative links to the frames

so ``posenet3d.datasets.mupots.MuPoTS("out/clips/C001")`` reads a clip as a test set (``seq`` = n, ``frame`` =
the frame index). Each frame is drawn from the clip's plan (``default_rng([seed, 3, n])``) and its own noise
stream, so the files are byte-identical whatever the number of workers.
"""
from __future__ import annotations

import functools
import math
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..fileio import write_json_atomic
from ..skeletons import MUPOTS
from .video_plan import MIN_FRAMES, plan_clip
from .video_render import clip_scenery, occlusion_episodes, render_frame
from .writer import _init_worker, _person_records, write_jpeg_atomic

#: Version of the video world's output; it changes whenever the same arguments would give different files.
VIDEO_VERSION = "1.0"
#: Frames per work item (a worker plans the clip once and draws this many frames of it).
CHUNK_FRAMES = 25
TEST_JSON = "MuPoTS-3D.json"
TEST_IMAGE_DIR = "MultiPersonTestSet"


def clip_name(clip: int) -> str:
    """``'C001'`` for clip 1."""
    return f"C{clip:03d}"


@functools.lru_cache(maxsize=2)
def _plan(seed: int, clip: int, frames: int, fps: float, size: int):
    plan = plan_clip(seed, clip, frames, fps, size)
    return plan, clip_scenery(plan)


def _work(task: tuple) -> dict:
    """Draw and write frames ``first..last-1`` of one clip; return per frame the present people's MuPoTS
    annotations (without ids) and every drawn person's ``hidden_by``, and with the first frames the clip's
    description for its tracks file (:func:`_clip_info`)."""
    seed, clip, first, last, frames, fps, size, clip_dir = task
    plan, scenery = _plan(seed, clip, frames, fps, size)
    out = {}
    for f in range(first, last):
        image, people = render_frame(plan, scenery, f)
        write_jpeg_atomic(Path(clip_dir) / "frames" / f"{f:06d}.jpg", image)
        anns = [(fp.person.person_id, _person_records(fp.person, MUPOTS.joint_num)[0]) for fp in people
                if fp.present]
        out[f] = {"annotations": anns, "hidden_by": {fp.person.person_id: fp.hidden_by for fp in people}}
    return {"clip": clip, "frames": out, "info": _clip_info(plan) if first == 0 else None}


def _clip_info(plan) -> dict:
    """What the tracks file says about a clip besides its people's frames: camera, heights, the crossing."""
    cam, c = plan.camera, plan.crossing
    return {"clip": clip_name(plan.clip), "seq": plan.clip, "fps": plan.fps, "num_frames": plan.frames,
            "width": cam.width, "height": cam.height,
            "intrinsics": [cam.focal[0], cam.focal[1], cam.princpt[0], cam.princpt[1]],
            "camera": {"height_mm": round(cam.height_mm, 4), "pitch_deg": round(cam.pitch_deg, 6),
                       "roll_deg": round(cam.roll_deg, 6), "pan_amp_deg": round(plan.pan_amp_deg, 6),
                       "yaw_deg": [round(float(y), 6) for y in plan.yaw_deg]},
            "joint_set": MUPOTS.name, "joint_names": list(MUPOTS.joints_name),
            "heights_mm": {w.person_id: round(w.shape.height_mm, 2) for w in plan.walkers},
            "crossing": {"near_id": plan.crossing_ids[0], "far_id": plan.crossing_ids[1],
                         "frame": round(c.time_s * plan.fps, 3), "azimuth_deg": round(math.degrees(c.azimuth_rad), 4),
                         "near_m": round(c.near_m, 4), "far_m": round(c.far_m, 4)}}


def generate_video(out_dir: str | Path, num_clips: int, frames_per_clip: int = 150, fps: float = 25.0,
                   seed: int = 0, size: int = 512, workers: int = 0, progress: bool = False) -> dict:
    """Generate ``num_clips`` clips of ``frames_per_clip`` frames at ``fps`` frames/s into ``out_dir``.

    Args:
        out_dir: output folder (layout in the module docstring); files of the same names are replaced.
        num_clips: clips (≥ 1); ``frames_per_clip``: frames per clip (≥ 20); ``fps``: frame rate (1–240).
        seed: non-negative integer; clip ``n`` depends only on (seed, n, frames_per_clip, fps, size).
        size: nominal image side in px (≥ 32; real sizes vary around it as in the still world).
        workers: 0 draws in this process, K ≥ 1 uses K worker processes (same files).
        progress: show a progress bar (frames) on stderr.

    Returns a summary: ``out_dir``, ``seed``, ``size``, ``fps``, ``generator_version``, ``clips`` (per clip:
    name, people, annotations, width, height, pan), ``frames``, ``seconds`` and ``frames_per_second``.
    """
    _check_args(num_clips, frames_per_clip, fps, seed, size, workers)
    out = Path(out_dir)
    tasks = []
    for clip in range(1, num_clips + 1):
        clip_dir = out / "clips" / clip_name(clip)
        (clip_dir / "frames").mkdir(parents=True, exist_ok=True)
        tasks += [(int(seed), clip, f, min(f + CHUNK_FRAMES, frames_per_clip), int(frames_per_clip), float(fps),
                   int(size), str(clip_dir)) for f in range(0, frames_per_clip, CHUNK_FRAMES)]
    start = time.perf_counter()
    chunks = -(-frames_per_clip // CHUNK_FRAMES)
    summaries, pending = [], []
    for result in _run(tasks, workers, progress, frames_per_clip * num_clips):
        pending.append(result)
        if len(pending) == chunks:  # results come in task order: a clip is complete
            clip = pending[0]["clip"]
            frames = {f: r for res in pending for f, r in res["frames"].items()}
            summaries.append(_write_clip(out / "clips" / clip_name(clip), pending[0]["info"], frames))
            pending = []
    seconds = time.perf_counter() - start
    total = num_clips * frames_per_clip
    meta = {"generator": "posenet3d.synth.video", "generator_version": VIDEO_VERSION, "seed": int(seed),
            "size": int(size), "fps": float(fps), "num_clips": int(num_clips), "frames_per_clip": int(frames_per_clip),
            "joint_set": MUPOTS.name, "clips": summaries}
    write_json_atomic(out / "meta.json", meta)
    return {"out_dir": str(out), "seed": int(seed), "size": int(size), "fps": float(fps),
            "generator_version": VIDEO_VERSION, "clips": summaries, "frames": total, "seconds": round(seconds, 3),
            "frames_per_second": round(total / seconds, 2) if seconds > 0 else 0.0}


def _check_args(num_clips: int, frames: int, fps: float, seed: int, size: int, workers: int) -> None:
    """Refuse counts, seeds, worker numbers, frame rates and sizes out of range, with a one-line reason."""
    for name, value, low in (("num_clips", num_clips, 1), ("frames_per_clip", frames, MIN_FRAMES), ("seed", seed, 0),
                             ("workers", workers, 0), ("size", size, 32)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"generate_video: {name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(fps, int | float) and math.isfinite(fps) and 1.0 <= fps <= 240.0):
        raise ValueError(f"generate_video: fps must be a number in 1..240 frames/s, got {fps!r}")


def _run(tasks: list[tuple], workers: int, progress: bool, total: int):
    """Run the work items here or in ``workers`` spawned processes; yield their results in task order."""
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="synth video", unit="frame")
    if workers:
        with ProcessPoolExecutor(int(workers), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            for r in pool.map(_work, tasks):
                if bar is not None:
                    bar.update(len(r["frames"]))
                yield r
    else:
        for t in tasks:
            r = _work(t)
            if bar is not None:
                bar.update(len(r["frames"]))
            yield r
    if bar is not None:
        bar.close()


def _write_clip(clip_dir: Path, info: dict, frames: dict) -> dict:
    """Write one clip's MuPoTS-3D file, frame links and tracks file; return its summary for ``meta.json``."""
    images, anns = [], []
    people = {pid: _empty_track(pid, height) for pid, height in info["heights_mm"].items()}
    for f in range(info["num_frames"]):
        rel = f"TS{info['seq']}/img_{f:06d}.jpg"
        images.append({"id": f + 1, "file_name": rel, "width": info["width"], "height": info["height"],
                       "intrinsic": info["intrinsics"]})
        _link(Path("../../..") / "frames" / f"{f:06d}.jpg", clip_dir / "data" / TEST_IMAGE_DIR / rel)
        for pid, ann in frames[f]["annotations"]:
            anns.append({"id": len(anns) + 1, "image_id": f + 1, **ann, "is_valid": 1, "track_id": pid})
            _append(people[pid], f, ann)
    write_json_atomic(clip_dir / "data" / TEST_JSON,
                      {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]})
    episodes = occlusion_episodes([frames[f]["hidden_by"] for f in range(info["num_frames"])])
    tracks = {k: v for k, v in info.items() if k != "heights_mm"}
    tracks.update({"people": list(people.values()), "occlusions": episodes})
    write_json_atomic(clip_dir / "tracks.json", tracks)
    return {"name": info["clip"], "people": len(people), "annotations": len(anns), "width": info["width"],
            "height": info["height"], "pan_amp_deg": info["camera"]["pan_amp_deg"],
            "longest_occlusion_frames": max((e["frames"] for e in episodes), default=0)}


def _empty_track(person_id: int, height_mm: float) -> dict:
    return {"id": person_id, "height_mm": height_mm, "frames": [],
            "boxes_xywh_px": [], "joints_2d_px": [], "joints_3d_cam_mm": [], "visibility": [], "area_px": []}


def _append(track: dict, frame: int, ann: dict) -> None:
    """Add one frame's MuPoTS annotation to a track (the same rounded numbers as the per-frame file)."""
    track["frames"].append(frame)
    track["boxes_xywh_px"].append(ann["bbox"])
    track["joints_2d_px"].append(ann["keypoints_img"])
    track["joints_3d_cam_mm"].append(ann["keypoints_cam"])
    track["visibility"].append(ann["keypoints_vis"])
    track["area_px"].append(ann["area"])


def _link(target: Path, link: Path) -> None:
    """Make ``link`` point at ``target`` (relative to the link's folder): a symbolic link, else a hard link,
    else a copy; an existing entry is replaced."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    try:
        os.symlink(target, tmp)
    except (OSError, NotImplementedError):
        real = link.parent / target
        try:
            os.link(real, tmp)
        except OSError:
            shutil.copyfile(real, tmp)
    os.replace(tmp, link)
