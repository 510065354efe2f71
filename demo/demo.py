"""Demo: every person's absolute 3D skeleton in images or a video, drawn and written to JSON.

    python demo/demo.py                                  # the bundled images with the bundled model → output/vis/
    python demo/demo.py --input photo.jpg --focal 1200   # one image, known focal length (px)
    python demo/demo.py --input shots/ --pose-nms        # every file of a folder
    python demo/demo.py --input 'shots/*.png' --intrinsics 1150,1148,640,360
    python demo/demo.py --input clip.mp4                 # annotated video + per-frame JSON lines
    python demo/demo.py --input photo.jpg --published --detector ctdet_coco_resdcn18.pth \\
        --detector-arch resdcn_18 --rootnet rootnet_snapshot_18.pth.tar --posenet posenet_snapshot_24.pth.tar

Outputs (under ``--output``, default ``output/vis`` of the repository), per image ``<name>``: ``<name>_2d.jpg``
(skeletons and boxes over the image), ``<name>_3d.png`` (front and top views of all people in the camera frame,
mm, colours as in the overlay) and ``<name>.json``; per video: ``<name>_vis.mp4`` (overlay beside the 3D views,
``--no-video-3d`` for the overlay only) and ``<name>.jsonl`` (one JSON object per frame). The JSON holds
``units``, ``intrinsics`` (those used), ``people`` (``bbox``, ``score``, ``root_cam_mm``, ``joints_cam_mm``,
``joints_2d_px``), ``joint_names``, ``skeleton`` and ``timings_ms``. Every file is written atomically.

Without ``--focal``/``--intrinsics`` the focal length is 1500 px with the principal point at the image centre (the
reference's convention): absolute depths then scale linearly with the true focal length.

Exit code: 0 when every input was processed, 1 when any input failed (each failure is named on stderr and the
others are still processed), 2 when the model cannot be loaded or the arguments are wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import cv2
import torch
from tqdm import tqdm

from posenet3d.checkpoint import CheckpointError
from posenet3d.config import ConfigError, load_config
from posenet3d.detection.model import ARCHS
from posenet3d.estimator import EstimateResult, Estimator, EstimatorError
from posenet3d.fileio import write_text_atomic
from posenet3d.media import (
    InputItem,
    MediaError,
    VideoReader,
    discover_inputs,
    read_image,
)
from posenet3d.vis import draw_2d, draw_3d, save_image, side_by_side

DEMO_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = DEMO_DIR / "model"
DEFAULT_INPUT = str(DEMO_DIR / "images" / "*.jpg")
DEFAULT_OUTPUT = DEMO_DIR.parent / "output" / "vis"
FIGURE_3D_SIZE = (960, 480)  # (W, H) px of the 3D views


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="+", default=None,
                   help="image file(s), folder(s), glob pattern(s) or video file(s) (default: demo/images/*.jpg)")
    p.add_argument("--output", default=str(DEFAULT_OUTPUT), help="output folder (default: output/vis)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default 0: torch's choice; 1 is faster on a busy shared CPU)")
    g = p.add_argument_group("model (the bundle, or three weight files)")
    g.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR),
                   help="estimator bundle folder: estimator.yaml + weights (default: demo/model)")
    g.add_argument("--detector", help="CenterNet weights (a published ctdet COCO checkpoint with --detector-arch, "
                                      "or ours with --detector-config)")
    g.add_argument("--detector-arch", default="resdcn_18", choices=sorted(ARCHS),
                   help="arch of a published CenterNet file (default: resdcn_18)")
    g.add_argument("--detector-config", help="YAML config (model.task centernet) of a --detector file of ours")
    g.add_argument("--rootnet", help="RootNet weights (snapshot or state_dict)")
    g.add_argument("--posenet", help="PoseNet weights (snapshot or state_dict)")
    g.add_argument("--published", action="store_true",
                   help="--rootnet/--posenet are the published 3DMPPE models (ResNet-50, 21 MuCo joints, 256²)")
    g.add_argument("--root-config", help="YAML config of the --rootnet network (instead of --published)")
    g.add_argument("--pose-config", help="YAML config of the --posenet network (instead of --published)")
    c = p.add_argument_group("camera (default: f = 1500 px, principal point at the image centre)")
    cam = c.add_mutually_exclusive_group()
    cam.add_argument("--focal", type=float, help="focal length in px (principal point at the image centre)")
    cam.add_argument("--intrinsics", help="fx,fy,cx,cy in px")
    o = p.add_argument_group("estimator options (default: the bundle's, else the estimator's)")
    o.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="PoseNet flip test")
    o.add_argument("--pose-nms", action=argparse.BooleanOptionalAction, default=None,
                   help="AlphaPose parametric pose NMS on the 2D joints")
    o.add_argument("--det-thresh", type=float, help="detector score threshold (estimator default 0.3)")
    o.add_argument("--max-people", type=int, help="keep at most this many people per image")
    o.add_argument("--channels-last", action="store_true", help="run the networks in channels-last format")
    p.add_argument("--video-3d", action=argparse.BooleanOptionalAction, default=True,
                   help="put the 3D views beside each video frame (default: on)")
    return p


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--intrinsics expects fx,fy,cx,cy (4 numbers in px), got {text!r}")
    return values  # type: ignore[return-value]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EstimatorError(f"--device {name}: CUDA is not available on this machine")
    return device


def load_estimator(args: argparse.Namespace) -> Estimator:
    """The estimator the arguments ask for (bundle, or three weight files)."""
    options = {k: v for k, v in {"flip_test": args.flip, "pose_nms": args.pose_nms,
                                 "det_score_thresh": args.det_thresh, "max_people": args.max_people}.items()
               if v is not None}
    if args.channels_last:
        options["channels_last"] = True
    device = resolve_device(args.device)
    files = (args.detector, args.rootnet, args.posenet)
    if not any(files):
        return Estimator.from_bundle(args.model_dir, device=device, **options)
    if not all(files):
        raise EstimatorError("--detector, --rootnet and --posenet go together: give all three (or none, to use "
                             "the bundle in --model-dir)")
    if args.published and (args.root_config or args.pose_config):
        raise EstimatorError("--published and --root-config/--pose-config exclude each other")
    if not args.published and not (args.root_config and args.pose_config):
        raise EstimatorError("with --rootnet/--posenet, say what they are: --published (the 3DMPPE ResNet-50 "
                             "models) or --root-config and --pose-config")
    root_cfg = load_config(args.root_config).model if args.root_config else None
    pose_cfg = load_config(args.pose_config).model if args.pose_config else None
    det_cfg = load_config(args.detector_config).model if args.detector_config else None
    return Estimator.from_files(args.detector, args.rootnet, args.posenet, detector_arch=args.detector_arch,
                                det_cfg=det_cfg, pose_cfg=pose_cfg, root_cfg=root_cfg, device=device, **options)


def output_bases(items: list[InputItem]) -> dict[Path, str]:
    """A distinct output name per input: its stem, with the extension (and a number) added on a collision."""
    names: dict[Path, str] = {}
    used: set[str] = set()
    for item in items:
        base = item.path.stem or item.path.name or "input"
        if base in used:
            base = f"{base}_{item.path.suffix.lstrip('.')}" if item.path.suffix else base
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        names[item.path] = candidate
    return names


def write_json(path: Path, obj: dict) -> Path:
    """Write ``obj`` as strict JSON atomically (:func:`posenet3d.fileio.write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(obj, indent=1, allow_nan=False))


def people_dicts(result: EstimateResult) -> list[dict]:
    return [{"bbox": p.bbox, "score": p.score, "joints_2d": p.joints_2d_px, "joints_cam_mm": p.joints_cam_mm}
            for p in result]


def render(image_bgr, result: EstimateResult, title: str, with_3d: bool = True):
    """(2D overlay, 3D views or None) as BGR images; person i has the same colour in both."""
    people = people_dicts(result)
    overlay = draw_2d(image_bgr, people, result.skeleton)
    if not with_3d:
        return overlay, None
    f = result.intrinsics
    views = draw_3d(people, result.skeleton, title=f"{title}: {len(people)} people, camera frame (mm), "
                                                   f"fx={f.fx:g} px", size_px=FIGURE_3D_SIZE)
    return overlay, views


def process_image(est: Estimator, item: InputItem, out_dir: Path, base: str, camera: dict) -> str:
    image = read_image(item.path)
    try:
        result = est.estimate(image, **camera)
    except MediaError as exc:  # the estimator names the array "image": name the file instead
        raise MediaError(f"{item.path}: {str(exc).removeprefix('image: ')}") from None
    overlay, views = render(image, result, item.path.name)
    files = [save_image(out_dir / f"{base}_2d.jpg", overlay), save_image(out_dir / f"{base}_3d.png", views)]
    files.append(write_json(out_dir / f"{base}.json", {"input": str(item.path), **result.to_dict()}))
    return f"{len(result)} people → " + ", ".join(p.name for p in files)


def process_video(est: Estimator, item: InputItem, out_dir: Path, base: str, camera: dict, with_3d: bool) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path, lines_path = out_dir / f"{base}_vis.mp4", out_dir / f"{base}.jsonl"
    tag = uuid.uuid4().hex
    tmp_video = out_dir / f".{base}_vis.{tag}.tmp.mp4"  # the extension picks the container
    tmp_lines = out_dir / f".{base}.{tag}.tmp.jsonl"
    writer = None
    people_total = 0
    try:
        with VideoReader(item.path) as reader, open(tmp_lines, "w") as lines:
            bar = tqdm(total=reader.frame_count or None, desc=item.path.name, unit="frame", disable=None,
                       leave=False)
            try:
                for index, frame in reader:
                    result = est.estimate(frame, **camera)
                    people_total += len(result)
                    overlay, views = render(frame, result, f"{item.path.name} frame {index}", with_3d)
                    canvas = overlay if views is None else side_by_side(overlay, views)
                    if writer is None:
                        h, w = canvas.shape[:2]
                        writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), reader.fps, (w, h))
                        if not writer.isOpened():
                            raise MediaError(f"{video_path}: OpenCV cannot write an mp4v video here")
                    writer.write(canvas)
                    record = {"input": str(item.path), "frame": index, "time_s": round(index / reader.fps, 4),
                              **result.to_dict()}
                    lines.write(json.dumps(record, allow_nan=False) + "\n")
                    bar.update(1)
            finally:
                bar.close()
            lines.flush()
            os.fsync(lines.fileno())
            if writer is not None:
                writer.release()
                writer = None
            frames = reader.frames_read
            fps = reader.fps
            problem = None
            try:
                reader.check_complete()
            except MediaError as exc:
                problem = exc
        if frames:  # keep what was processed, also when the video ended early
            os.replace(tmp_video, video_path)
            os.replace(tmp_lines, lines_path)
        if problem is not None:
            raise MediaError(f"{problem} (the {frames} frames read were written to {video_path.name} and "
                             f"{lines_path.name})" if frames else str(problem))
    finally:
        if writer is not None:
            writer.release()
        tmp_video.unlink(missing_ok=True)
        tmp_lines.unlink(missing_ok=True)
    return f"{frames} frames at {fps:g} fps, {people_total} person detections → {video_path.name}, {lines_path.name}"


def sidecar_camera(path: Path) -> dict:
    """Intrinsics from ``<image stem>.camera.json`` beside an image (``{"intrinsics": [fx, fy, cx, cy]}`` px),
    used when the command line gives none; the bundled demo images carry theirs this way."""
    side = Path(path).with_name(Path(path).stem + ".camera.json")
    if not side.is_file():
        return {}
    try:
        values = json.loads(side.read_text())["intrinsics"]
        return {"intrinsics": tuple(float(v) for v in values)}
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"{side}: expected {{\"intrinsics\": [fx, fy, cx, cy]}} ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    camera: dict = {}
    try:
        if args.intrinsics is not None:
            camera["intrinsics"] = parse_intrinsics(args.intrinsics)
        elif args.focal is not None:
            camera["focal"] = args.focal
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        est = load_estimator(args)
    except (EstimatorError, CheckpointError, ConfigError, OSError, ValueError) as exc:
        hint = ("; give --model-dir, or --detector/--rootnet/--posenet (see --help)"
                if not any((args.detector, args.rootnet, args.posenet)) else "")
        print(f"error: cannot load the model: {exc}{hint}", file=sys.stderr)
        return 2
    items = discover_inputs(args.input or [DEFAULT_INPUT])
    out_dir = Path(args.output)
    bases = output_bases(items)
    failed: list[str] = []
    for item in tqdm(items, desc="inputs", unit="input", disable=None if len(items) > 1 else True):
        try:
            if item.error is not None:
                raise MediaError(item.error)
            if item.kind == "video":
                summary = process_video(est, item, out_dir, bases[item.path], camera, args.video_3d)
            else:
                summary = process_image(est, item, out_dir, bases[item.path], camera or sidecar_camera(item.path))
        except (MediaError, EstimatorError, ValueError, OSError, cv2.error) as exc:
            message = str(exc).strip()
            if not message.startswith(str(item.path)):
                message = f"{item.path}: {message}"
            print(f"FAILED {message}", file=sys.stderr)
            failed.append(str(item.path))
            continue
        print(f"{item.path}: {summary}")
    done = len(items) - len(failed)
    print(f"{done} of {len(items)} inputs processed, {len(failed)} failed; outputs in {out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
