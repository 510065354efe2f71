"""Evaluate tracking and 3D smoothing on video clips with ground-truth identities (the synthetic video world).

    posenet3d eval-video --data data/SyntheticVideo                       # every clip, the bundled model
    posenet3d eval-video --data data/SyntheticVideo --clips 2 --frames 50 --out /tmp/video_eval.json
    posenet3d eval-video --data data/SyntheticVideo tracker.max_age=50 tracker.gate_root_mm=1500

For each clip (``clips/C*/tracks.json`` + ``frames/*.jpg``, layout in data/Synthetic/README.md) it runs the
estimator on every frame with the clip's intrinsics, tracks the people (:mod:`posenet3d.tracking`) and smooths them
online (One-Euro, the root's depth by a Kalman filter) and offline (Savitzky–Golay). It prints MOTA, IDF1 and ID
switches twice: people matched to ground truth by 3D root within ``--match-mm`` (which also charges RootNet's depth
errors), and by box IoU ≥ 0.5 (the MOT challenges' protocol: identities, given the detections); and per smoothing
mode the MPJPE (absolute and root-relative), MRPE, acceleration error and jitter (mm, mm/frame²) of the tracks
against ground truth: each ground-truth person is paired with the track it is matched to most often, over the
longest run of consecutive frames they share.
Definitions: docs/video.md.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from posenet3d.checkpoint import CheckpointError
from posenet3d.commands import command_parser
from posenet3d.config import ConfigError, load_config
from posenet3d.estimator import Estimator, EstimatorError
from posenet3d.evaluation.report import write_result_json
from posenet3d.evaluation.video import mot_metrics, track_pose_metrics
from posenet3d.media import MediaError
from posenet3d.skeletons import get_joint_set
from posenet3d.video import VideoTracker, offline_tracks

MODES = ("none", "online", "offline")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--data", default="data/SyntheticVideo", help="folder with clips/C*/ (default: data/SyntheticVideo)")
    p.add_argument("--model-dir", default="demo/model", help="estimator bundle (default: demo/model)")
    p.add_argument("--clips", type=int, default=None, help="first N clips only")
    p.add_argument("--frames", type=int, default=None, help="first N frames of each clip only")
    p.add_argument("--match-mm", type=float, default=500.0, help="root distance to match a person (mm)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    p.add_argument("--det-keep-aspect", action="store_true",
                   help="the detector on a canvas of the frame's shape instead of the square (docs/deploy.md)")
    p.add_argument("overrides", nargs="*", help="tracker / smoothing settings, e.g. tracker.max_age=50 "
                   "smoothing.root_depth.min_cutoff_hz=0.5 (units: docs/video.md)")
    args = p.parse_intermixed_args(argv)
    try:
        cfg = load_config(None, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    clips = sorted(Path(args.data).glob("clips/C*/tracks.json"))[:args.clips]
    if not clips:
        print(f"error: {args.data}: no clips/C*/tracks.json (make clips with posenet3d synth --video)",
              file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        est = Estimator.from_bundle(args.model_dir, **({"det_keep_aspect": True} if args.det_keep_aspect else {}))
    except (EstimatorError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_clip = [evaluate_clip(est, path, args.frames, args.match_mm, cfg) for path in clips]
    summary = summarise(per_clip)
    print_summary(summary, len(clips))
    if args.out:
        out = Path(args.out)
        write_result_json({"data": args.data, "model_dir": args.model_dir, "summary": summary, "clips": per_clip},
                          out.stem, out.parent)
    return 0


def _gt_by_frame(tracks: dict, num_frames: int) -> list[dict[int, np.ndarray]]:
    """Per frame: ground-truth id → (17, 3) camera-frame joints (mm)."""
    frames: list[dict[int, np.ndarray]] = [{} for _ in range(num_frames)]
    for person in tracks["people"]:
        for f, joints in zip(person["frames"], person["joints_3d_cam_mm"]):
            if f < num_frames:
                frames[f][int(person["id"])] = np.asarray(joints, dtype=np.float64)
    return frames


def evaluate_clip(est: Estimator, tracks_path: Path, max_frames: int | None, match_mm: float, cfg=None) -> dict:
    """Run the estimator over one clip, then :func:`score_clip`."""
    tracks = json.loads(tracks_path.read_text())
    n = min(int(tracks["num_frames"]), max_frames) if max_frames else int(tracks["num_frames"])
    results: list = []
    for f in tqdm(range(n), desc=tracks_path.parent.name, disable=not sys.stderr.isatty()):
        try:
            results.append(est.estimate(tracks_path.parent / "frames" / f"{f:06d}.jpg",
                                        intrinsics=tracks["intrinsics"]))
        except (EstimatorError, MediaError) as exc:
            results.append(str(exc))
    return score_clip(tracks, results, est.joint_names, match_mm, cfg, tracks_path.parent.name)


def score_clip(tracks: dict, results: list, joint_names, match_mm: float, cfg=None, name: str = "") -> dict:
    """Track and smooth a clip's per-frame estimates (``results[f]``: an EstimateResult, or the error text of a
    frame that failed) against its ground truth ``tracks`` (a tracks.json); MOT and per-mode pose figures.
    ``cfg``: a :class:`~posenet3d.config.Config` whose ``tracker`` / ``smoothing`` sections are used."""
    from posenet3d.config import Config
    cfg = cfg or Config()
    fps, n = float(tracks["fps"]), len(results)
    gt_set, names = get_joint_set(tracks["joint_set"]), list(joint_names)
    common = [j for j in gt_set.joints_name if j in names]
    gi, pi = [gt_set.joints_name.index(j) for j in common], [names.index(j) for j in common]
    root = names.index(gt_set.joints_name[gt_set.root_idx])
    tracker = VideoTracker(root, fps, "online", cfg.tracker, cfg.smoothing)  # one tracking; the modes below
    pred_ids, pred_roots, pred_boxes, failed = [], [], [], []
    for f, result in enumerate(results):
        if isinstance(result, str):
            failed.append(f"frame {f}: {result}")
            pred_ids.append([])
            pred_roots.append(np.zeros((0, 3)))
            pred_boxes.append(np.zeros((0, 4)))
            continue
        tf = tracker.update(f, result)
        keep = [i for i, tid in enumerate(tf.track_ids) if tid is not None]
        pred_ids.append([tf.track_ids[i] for i in keep])
        pred_roots.append(np.array([result.people[i].root_cam_mm for i in keep]).reshape(-1, 3))
        pred_boxes.append(np.array([result.people[i].bbox for i in keep]).reshape(-1, 4))
    gt = _gt_by_frame(tracks, n)
    gt_root = gt_set.root_idx
    gt_ids = [list(g) for g in gt]
    mot = mot_metrics(gt_ids, [np.array([j[gt_root] for j in g.values()]).reshape(-1, 3) for g in gt],
                      pred_ids, pred_roots, match_mm)
    mot_2d = mot_metrics(gt_ids, _gt_boxes(tracks, gt_ids), pred_ids, pred_boxes, 0.5, boxes=True)
    pairs = _pair_tracks(gt, gt_root, pred_ids, pred_roots, match_mm)
    tracked = tracker.tracks()
    as_mode = {m: _smoothed_as(tracked, m, root, tracker.smoothing) for m in MODES}
    pose = {m: _pose_figures(as_mode[m], gt, pairs, gi, pi, common.index(gt_set.joints_name[gt_root]))
            for m in MODES}
    off_ids, off_roots, off_boxes = _per_frame(as_mode["offline"], n, root)
    return {"clip": name, "frames": n, "gt_tracks": sum(1 for q in tracks["people"] if q["frames"]),
            "failed_frames": failed, "mot": mot, "mot_iou": mot_2d,
            "mot_offline": mot_metrics(gt_ids, [np.array([j[gt_root] for j in g.values()]).reshape(-1, 3)
                                                for g in gt], off_ids, off_roots, match_mm),
            "mot_iou_offline": mot_metrics(gt_ids, _gt_boxes(tracks, gt_ids), off_ids, off_boxes, 0.5, boxes=True),
            "pose": pose}


def _per_frame(tracks: dict, n: int, root: int) -> tuple[list, list, list]:
    """Per frame of ``n``: the track ids, raw roots (mm) and boxes (px) in a tracks dict (as the offline tracks
    file holds them, filled gaps included)."""
    ids: list[list[int]] = [[] for _ in range(n)]
    roots: list[list] = [[] for _ in range(n)]
    boxes: list[list] = [[] for _ in range(n)]
    for tid, t in tracks.items():
        for f, joints, box in zip(t["frames"], t["joints_cam_mm"], t["boxes_xywh_px"]):
            if f < n:
                ids[f].append(tid)
                roots[f].append(joints[root])
                boxes[f].append(box)
    return (ids, [np.array(r, dtype=np.float64).reshape(-1, 3) for r in roots],
            [np.array(b, dtype=np.float64).reshape(-1, 4) for b in boxes])


def _smoothed_as(tracks: dict, mode: str, root: int, smoothing) -> dict:
    """The tracks with ``smoothed_cam_mm`` as ``mode`` gives it: the raw joints (none), the online filter's output
    as tracked (online), or the whole-track zero-lag smoothing of the raw joints (offline)."""
    if mode == "online":
        return tracks
    if mode == "offline":
        return offline_tracks(tracks, root, smoothing)[0]
    return {tid: {**t, "smoothed_cam_mm": t["joints_cam_mm"]} for tid, t in tracks.items()}


def _gt_boxes(tracks: dict, gt_ids: list[list[int]]) -> list[np.ndarray]:
    """Per frame, the ground-truth boxes (px) in the order of ``gt_ids``."""
    box = {(int(q["id"]), int(f)): b for q in tracks["people"] for f, b in zip(q["frames"], q["boxes_xywh_px"])}
    return [np.array([box[(i, f)] for i in ids], dtype=np.float64).reshape(-1, 4) for f, ids in enumerate(gt_ids)]


def _pair_tracks(gt: list[dict], gt_root: int, pred_ids: list, pred_roots: list, match_mm: float) -> dict:
    """Ground-truth id → the predicted track id whose root is within ``match_mm`` of it in most frames."""
    counts: dict[tuple[int, int], int] = {}
    for g, ids, roots in zip(gt, pred_ids, pred_roots):
        for gid, joints in g.items():
            if len(ids):
                d = np.linalg.norm(roots - joints[gt_root], axis=1)
                k = int(np.argmin(d))
                if d[k] <= match_mm:
                    counts[(gid, ids[k])] = counts.get((gid, ids[k]), 0) + 1
    best: dict[int, tuple[int, int]] = {}
    for (gid, tid), c in counts.items():
        if c > best.get(gid, (None, 0))[1]:
            best[gid] = (tid, c)
    return {gid: tid for gid, (tid, _) in best.items()}


def _longest_run(frames: np.ndarray) -> np.ndarray:
    """The longest run of consecutive frame numbers in sorted ``frames``."""
    if len(frames) == 0:
        return frames
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    runs = np.split(frames, breaks)
    return max(runs, key=len)


def _pose_figures(tracks: dict, gt: list[dict], pairs: dict, gi: list[int], pi: list[int], root: int) -> dict:
    """Frame-weighted means of :func:`track_pose_metrics` over the paired tracks (common joints, mm)."""
    rows, weights = [], []
    for gid, tid in pairs.items():
        t = tracks.get(tid)
        if t is None:
            continue
        gt_frames = np.array(sorted(f for f, g in enumerate(gt) if gid in g))
        seen = t["frames"][~t["interpolated"]]  # every mode on the same frames: those the person was seen in
        run = _longest_run(np.intersect1d(gt_frames, seen))
        if len(run) < 3:
            continue
        where = {f: i for i, f in enumerate(t["frames"])}
        pred = np.stack([t["smoothed_cam_mm"][where[f]][pi] for f in run])
        truth = np.stack([gt[f][gid][gi] for f in run])
        rows.append(track_pose_metrics(pred, truth, root))
        weights.append(len(run))
    if not rows:
        return {"tracks": 0}
    w = np.asarray(weights, dtype=np.float64)
    return {"tracks": len(rows), "frames": int(w.sum()),
            **{k: float(np.average([r[k] for r in rows], weights=w)) for k in rows[0]}}


def _mot_totals(per_clip: list[dict], key: str, gt_tracks: int) -> dict:
    """MOT counts of ``key`` ("mot" or "mot_iou") summed over clips; MOTA, IDF1 and switches per track from them."""
    tot = {k: sum(c[key][k] for c in per_clip) for k in ("fp", "fn", "id_switches", "num_gt", "num_pred", "idtp")}
    return {**tot, "mota": 1.0 - (tot["fn"] + tot["fp"] + tot["id_switches"]) / max(tot["num_gt"], 1),
            "idf1": 2.0 * tot["idtp"] / max(tot["num_gt"] + tot["num_pred"], 1),
            "id_switches_per_gt_track": tot["id_switches"] / max(gt_tracks, 1)}


def summarise(per_clip: list[dict]) -> dict:
    """Totals over clips: MOT counts summed (MOTA, IDF1 recomputed) for 3D-root and for box-IoU matching, pose
    figures frame-weighted per mode."""
    gt_tracks = sum(c["gt_tracks"] for c in per_clip)
    out = {"clips": len(per_clip), "frames": sum(c["frames"] for c in per_clip), "gt_tracks": gt_tracks,
           **_mot_totals(per_clip, "mot", gt_tracks), "iou": _mot_totals(per_clip, "mot_iou", gt_tracks),
           "offline": _mot_totals(per_clip, "mot_offline", gt_tracks),
           "iou_offline": _mot_totals(per_clip, "mot_iou_offline", gt_tracks), "pose": {}}
    for m in MODES:
        rows = [c["pose"][m] for c in per_clip if c["pose"][m].get("tracks")]
        w = np.array([r["frames"] for r in rows], dtype=np.float64)
        fields = [k for k in rows[0] if k not in ("tracks", "frames")] if rows else []
        out["pose"][m] = {k: float(np.average([r[k] for r in rows], weights=w)) for k in fields}
    return out


def print_summary(s: dict, num_clips: int) -> None:
    print(f"{num_clips} clips, {s['frames']} frames, {s['gt_tracks']} ground-truth tracks")
    for label, m in (("3D root ≤ match-mm, online ids", s), ("box IoU ≥ 0.5, online ids", s["iou"]),
                     ("3D root ≤ match-mm, offline tracks", s["offline"]),
                     ("box IoU ≥ 0.5, offline tracks", s["iou_offline"])):
        print(f"matched by {label}: MOTA {m['mota']:.3f}  IDF1 {m['idf1']:.3f}  ID switches {m['id_switches']} "
              f"({m['id_switches_per_gt_track']:.2f} per ground-truth track)  FP {m['fp']}  FN {m['fn']}")
    print("smoothing  MPJPE mm  MPJPE rel mm  MRPE mm  accel err mm/f²  jitter mm/f²")
    for m, r in s["pose"].items():
        if r:
            print(f"{m:9s}  {r['mpjpe_mm']:8.1f}  {r['mpjpe_rel_mm']:12.1f}  {r['mrpe_mm']:7.1f}  "
                  f"{r['accel_error']:15.2f}  {r['jitter']:12.2f}")
