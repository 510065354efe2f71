"""Demo: every person's absolute 3D skeleton in images or a video, drawn and written to JSON.

    python demo/demo.py                                  # the bundled images with the bundled model → output/vis/
    python demo/demo.py --input photo.jpg --focal 1200   # one image, known focal length (px)
    python demo/demo.py --input shots/ --pose-nms        # every image and video of a folder
    python demo/demo.py --input 'shots/*.png' --intrinsics 1150,1148,640,360
    python demo/demo.py --input clip.mp4                 # tracked video, per-frame JSON lines, tracks file
    python demo/demo.py --input clip.mp4 --smooth offline --start 100 --max-frames 250
    python demo/demo.py --input clip.mp4 --bvh --bvh-y-up --trail 25   # also BVH per track; trails on the page
    python demo/demo.py --input photo.jpg --published --detector ctdet_coco_resdcn18.pth \\
        --detector-arch resdcn_18 --rootnet snapshot_18.pth.tar --posenet snapshot_24.pth.tar
    python demo/demo.py --input photo.jpg --published --detector torchvision:fasterrcnn_v2 \\
        --rootnet snapshot_18.pth.tar --posenet snapshot_24.pth.tar   # torchvision's COCO detector
    python demo/demo.py --input shots/ --boxes detections.json   # your own boxes (COCO JSON, YOLO txt, 3DMPPE)
    posenet3d demo --input photo.jpg                     # the same program as a posenet3d command

Outputs (under ``--output``, default ``output/vis`` of the repository), per image ``<name>``: ``<name>_2d.jpg``
(skeletons and boxes over the image), ``<name>_3d.png`` (front and top views of all people in the camera frame,
mm, colours as in the overlay), ``<name>.json`` and ``<name>_3d.html`` (an interactive 3D page, offline:
``plotly.min.js`` is written once per folder; ``--no-html`` skips it; docs/viewer.md); per video: every person
tracked with a stable id and colour and smoothed in 3D (``--smooth``), ``<name>_vis.mp4`` (overlay beside the 3D
views on axes fixed over the clip, ``--no-video-3d`` for the overlay only), ``<name>.jsonl`` (one JSON object per
frame, people with ``track_id``), ``<name>_tracks.json`` (per track: frames, raw and smoothed 3D joints, 2D
joints, confidences), ``<name>_3d.html`` (the 3D page with a timeline) and with ``--bvh`` a BVH animation per
track (docs/export.md). Every field, with its unit and frame: docs/output-format.md. An input's files are written
as a set (all or none). The demo never replaces an input of the run, nor a file it did not write itself (it keeps
a record, ``.posenet3d-outputs.json`` in the output folder): such an input fails with a message, unless
``--overwrite`` allows replacing other files.

Images are read upright as their EXIF orientation says. In a folder or a pattern, files that are not images or
videos by their extension (a README, ``.camera.json`` sidecars) and the demo's own earlier outputs are skipped
and counted. An image too small to hold a person gives an empty result with a note.

Camera: ``--focal`` or ``--intrinsics``; else an image's ``<stem>.camera.json`` sidecar
(``{"intrinsics": [fx, fy, cx, cy]}`` px; the bundled images have one); else f = 1500 px with the principal point
at the image centre (the reference's convention): absolute depths then scale linearly with the true focal length.

Detector: the bundle's CenterNet (``--detector centernet``, the default), a CenterNet weight file, or one of
torchvision's COCO detectors, ``--detector torchvision:NAME`` (``fasterrcnn_v2``, ``retinanet``, ``fcos``,
``ssdlite``; weights from torchvision's cache, downloaded once; docs/models.md). ``--boxes FILE`` uses boxes
computed elsewhere instead (a COCO detections JSON, the reference's ``bbox_*_output.json``, or YOLO text files
``<image stem>.txt``; :mod:`posenet3d.detection.boxes_io`): matched to the images by file name, an image
without boxes gets an empty result with a note, and the images the file has boxes for but the run does not
see are named once at the end.

Exit code: 0 when every input was processed (or skipped), 1 when any input failed (each failure is named on
stderr and the others are still processed), 2 when the arguments are wrong or the model cannot be loaded (one
line on stderr, before any input is read).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import torch
from tqdm import tqdm

from posenet3d.camera import EstimatorError, resolve_intrinsics
from posenet3d.checkpoint import CheckpointError
from posenet3d.commands import REPO, command_parser
from posenet3d.commands.demo_outputs import OutputFolder, OutputRefused, plotly_js_paths
from posenet3d.commands.demo_video import process_video
from posenet3d.config import ConfigError
from posenet3d.detection.boxes_io import BoxesError, BoxSource, estimate_with_boxes, read_boxes
from posenet3d.detection.model import ARCHS
from posenet3d.detection.torchvision_detectors import PREFIX, detector_names, is_torchvision_name, parse_name
from posenet3d.media import InputItem, MediaError, discover_inputs, read_image
from posenet3d.viewer import PLOTLY_JS, have_plotly, image_page, plotly_js_bytes
from posenet3d.vis import draw_2d, draw_3d, encode_image

DEFAULT_MODEL_DIR = REPO / "demo" / "model"
DEMO_IMAGES = REPO / "demo" / "images"
DEFAULT_INPUT = str(DEMO_IMAGES / "*.jpg")
DEFAULT_OUTPUT = REPO / "output" / "vis"
FIGURE_3D_SIZE = (960, 480)  # (W, H) px of the 3D views
#: The record of the files the demo wrote in an output folder (name → SHA-256); only those it replaces.
PUBLISHED_EXAMPLE = ("--input photo.jpg --published --detector ctdet_coco_resdcn18.pth --detector-arch resdcn_18 "
                     "--rootnet snapshot_18.pth.tar --posenet snapshot_24.pth.tar")


class UsageError(ValueError):
    """A wrong argument: one line on stderr, exit code 2."""


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ------------------------------------------------------------------------------------------- arguments --

def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = command_parser(prog, __doc__)
    p.add_argument("--input", nargs="+", default=None,
                   help="image file(s), folder(s), glob pattern(s) or video file(s) (default: demo/images/*.jpg)")
    p.add_argument("--output", default=str(DEFAULT_OUTPUT), help="output folder (default: output/vis)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files the demo did not write (never an input of the run)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default 0: torch's choice; 1 is faster on a busy shared CPU)")
    g = p.add_argument_group("model (the bundle, or three weight files)")
    g.add_argument("--model-dir", default=None,
                   help="estimator bundle folder: estimator.yaml + weights (default: demo/model)")
    g.add_argument("--detector", help="centernet (the bundle's), torchvision:NAME (fasterrcnn_v2, retinanet, fcos, "
                                      "ssdlite: torchvision's COCO detectors), or CenterNet weights (a published "
                                      "ctdet COCO checkpoint with --detector-arch, or ours with --detector-config)")
    g.add_argument("--detector-arch", default="resdcn_18", choices=sorted(ARCHS),
                   help="arch of a published CenterNet file (default: resdcn_18)")
    g.add_argument("--detector-config", help="YAML config (model.task centernet) of a --detector file of ours")
    g.add_argument("--rootnet", help="RootNet weights (snapshot or state_dict)")
    g.add_argument("--posenet", help="PoseNet weights (snapshot or state_dict)")
    g.add_argument("--published", action="store_true",
                   help="--rootnet/--posenet are the published 3DMPPE models (ResNet-50, 21 MuCo joints, 256²)")
    g.add_argument("--root-config", help="YAML config of the --rootnet network (instead of --published)")
    g.add_argument("--pose-config", help="YAML config of the --posenet network (instead of --published)")
    b = p.add_argument_group("your own boxes instead of the detector (images only)")
    b.add_argument("--boxes", help="boxes file or folder: COCO detections JSON, 3DMPPE bbox_*_output.json, or YOLO "
                                   "text (<image stem>.txt: class cx cy w h [score], normalised)")
    b.add_argument("--boxes-class", type=int, default=None,
                   help="the class of a person in --boxes (default: COCO category 1 in JSON, class 0 in YOLO text)")
    c = p.add_argument_group("camera (default: the image's .camera.json, else f = 1500 px at the image centre)")
    cam = c.add_mutually_exclusive_group()
    cam.add_argument("--focal", type=float, help="focal length in px (principal point at the image centre)")
    cam.add_argument("--intrinsics", help="fx,fy,cx,cy in px")
    o = p.add_argument_group("estimator options (default: the bundle's, else the estimator's)")
    o.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="PoseNet flip test")
    o.add_argument("--pose-nms", action=argparse.BooleanOptionalAction, default=None,
                   help="AlphaPose parametric pose NMS on the 2D joints")
    o.add_argument("--det-thresh", type=float, help="detector score threshold in [0, 1) (estimator default 0.3)")
    o.add_argument("--max-people", type=int, help="keep at most this many people per image")
    o.add_argument("--det-keep-aspect", action=argparse.BooleanOptionalAction, default=None,
                   help="detector on a canvas of the image's shape (long side the input size) instead of the "
                        "square: faster on wide or tall images (docs/deploy.md)")
    o.add_argument("--channels-last", action="store_true", help="run the networks in channels-last format")
    p.add_argument("--html", action=argparse.BooleanOptionalAction, default=True,
                   help="write the interactive 3D page <name>_3d.html (and plotly.min.js once per folder; "
                        "docs/viewer.md; default: on)")
    o.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default=None,
                   help="what runs the networks (default torch; docs/deploy.md)")
    o.add_argument("--precision", choices=("fp32", "bf16", "int8"), default=None,
                   help="fp32 (default); bf16 on CPUs with native bf16; int8 from an int8 export (docs/deploy.md)")
    t = p.add_argument_group("throughput (folders of images → one JSON-lines file; docs/deploy.md)")
    t.add_argument("--throughput", action="store_true",
                   help="decode in the background, batch the people of several images, write results.jsonl only; "
                        "under torchrun each process takes a share")
    t.add_argument("--batch-images", type=int, default=8, help="images per batch with --throughput (default 8)")
    t.add_argument("--streams", type=int, default=None,
                   help="image batches run at once with --throughput, the CPU threads shared among them (default 1; "
                        "2 is faster on small CPUs, docs/benchmarks.md)")
    v = p.add_argument_group("video (people tracked with stable ids; docs/video.md)")
    v.add_argument("--video-3d", action=argparse.BooleanOptionalAction, default=True,
                   help="put the 3D views (axes fixed over the clip) beside each video frame (default: on)")
    v.add_argument("--smooth", choices=("online", "offline", "none"), default="online",
                   help="3D smoothing per track: online One-Euro with a Kalman root depth (default), offline "
                        "zero-lag, or none")
    v.add_argument("--start", type=int, default=0, help="first frame to process (default 0)")
    v.add_argument("--max-frames", type=int, default=None, help="process at most this many frames")
    v.add_argument("--trail", type=int, default=0, metavar="FRAMES",
                   help="3D page: draw each track's root path over the last FRAMES frames (default 0: no trails)")
    v.add_argument("--bvh", action="store_true",
                   help="also write each track as a BVH animation <name>_id<track>.bvh (docs/export.md)")
    v.add_argument("--bvh-y-up", action="store_true",
                   help="BVH in a Y-up right-handed frame (Blender, Unity) instead of the camera frame")
    return p


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    """``fx,fy,cx,cy`` px, checked (positive finite focal lengths, finite principal point)."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise UsageError(f"--intrinsics expects fx,fy,cx,cy (4 numbers in px), got {text!r}")
    try:
        resolve_intrinsics(1, 1, intrinsics=values)
    except EstimatorError as exc:
        raise UsageError(f"--intrinsics {text}: {exc}") from None
    return values  # type: ignore[return-value]


def resolve_device(name: str) -> torch.device:
    """The torch device ``--device`` names, or :class:`UsageError` saying why it cannot be used here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {name}: not a device; use cpu, cuda, cuda:N or auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {name}: this machine has {plural(count, 'CUDA device', 'CUDA devices')} "
                             f"(cuda:0 to cuda:{count - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: MPS is not available on this machine (use cpu or auto)")
    return device


def check_args(args: argparse.Namespace) -> dict:
    """Check every argument before a model is loaded or an input read; returns the camera keyword arguments.
    Raises :class:`UsageError` naming the argument and its value."""
    camera: dict = {}
    if args.intrinsics is not None:
        camera["intrinsics"] = parse_intrinsics(args.intrinsics)
    elif args.focal is not None:
        if not (math.isfinite(args.focal) and args.focal > 0):
            raise UsageError(f"--focal {args.focal:g}: the focal length must be a finite positive number of px")
        camera["focal"] = args.focal
    if args.det_thresh is not None and not 0.0 <= args.det_thresh < 1.0:
        raise UsageError(f"--det-thresh {args.det_thresh:g}: a detector score threshold is in [0, 1)")
    if args.start < 0 or (args.max_frames is not None and args.max_frames < 1):
        raise UsageError(f"--start {args.start} / --max-frames {args.max_frames}: the start is >= 0 and at least "
                         "1 frame is processed")
    if args.max_people is not None and args.max_people < 1:
        raise UsageError(f"--max-people {args.max_people}: must be at least 1")
    if args.trail < 0:
        raise UsageError(f"--trail {args.trail}: must be >= 0 frames (0: no trails)")
    if args.threads < 0:
        raise UsageError(f"--threads {args.threads}: must be >= 0 (0: torch's choice)")
    named_detector = detector_name(args.detector)
    if args.boxes is not None:
        if named_detector not in (None, "centernet"):
            raise UsageError(f"--boxes and --detector {args.detector} exclude each other (the boxes replace the "
                             "detector)")
        if not Path(args.boxes).exists():
            raise UsageError(f"--boxes {args.boxes}: no such file or folder")
    if args.detector and named_detector is None and not Path(args.detector).is_file():
        raise UsageError(f"--detector {args.detector}: no such file, nor a detector name (centernet, "
                         f"{', '.join(detector_names())})")
    if args.batch_images < 1:
        raise UsageError(f"--batch-images {args.batch_images}: must be at least 1")
    if args.streams is not None and args.streams < 1:
        raise UsageError(f"--streams {args.streams}: must be at least 1")
    if args.streams is not None and not args.throughput:
        raise UsageError("--streams runs with --throughput (folders of images)")
    files = {"--detector": args.detector, "--rootnet": args.rootnet, "--posenet": args.posenet}
    if args.boxes is not None and not args.detector and (args.rootnet or args.posenet):
        del files["--detector"]  # the boxes replace the detector: none is loaded
    if named_detector is not None and not (args.rootnet or args.posenet):
        files = {}  # a named detector with the bundle's RootNet and PoseNet
    elif named_detector == "centernet":
        raise UsageError("--detector centernet names the bundle's CenterNet; with --rootnet/--posenet give a "
                         "CenterNet weight file or torchvision:NAME")
    if any(files.values()):
        if not all(files.values()):
            missing = [k for k, v in files.items() if not v]
            raise UsageError(f"--detector, --rootnet and --posenet go together (--detector may be left out with "
                             f"--boxes): {', '.join(missing)} missing (or give none of them, to use the bundle in "
                             f"--model-dir)")
        if args.model_dir is not None:
            raise UsageError("--model-dir and --detector/--rootnet/--posenet exclude each other")
        if args.published and (args.root_config or args.pose_config):
            raise UsageError("--published and --root-config/--pose-config exclude each other")
        if not args.published and not (args.root_config and args.pose_config):
            raise UsageError("with --rootnet/--posenet, say what they are: --published (the 3DMPPE ResNet-50 "
                             "models) or --root-config and --pose-config")
    elif args.published or args.root_config or args.pose_config or args.detector_config:
        raise UsageError("--published, --root-config, --pose-config and --detector-config describe "
                         "--detector/--rootnet/--posenet files: give those too")
    named = {**files, "--detector-config": args.detector_config, "--root-config": args.root_config,
             "--pose-config": args.pose_config}
    named.pop("--detector", None)  # checked above
    for flag, value in named.items():
        if value and not Path(value).is_file():
            raise UsageError(f"{flag} {value}: no such file")
    if args.model_dir is not None and not Path(args.model_dir).is_dir():
        raise UsageError(f"--model-dir {args.model_dir}: no such folder")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a folder")
    resolve_device(args.device)
    return camera


def detector_name(value: str | None) -> str | None:
    """``centernet`` or ``torchvision:NAME`` when ``--detector`` names a detector rather than a file (None
    otherwise); :class:`UsageError` listing the valid names for an unknown ``torchvision:`` name."""
    if value == "centernet":
        return value
    if not is_torchvision_name(value):
        return None
    try:
        return PREFIX + parse_name(value)
    except EstimatorError as exc:
        raise UsageError(f"--detector {value}: {exc}") from None


def load_estimator(args: argparse.Namespace):
    """The estimator the (checked) arguments ask for: the bundle, or three weight files."""
    from posenet3d.config import load_config
    from posenet3d.estimator import Estimator
    options = {k: v for k, v in {"flip_test": args.flip, "pose_nms": args.pose_nms,
                                 "det_score_thresh": args.det_thresh, "max_people": args.max_people,
                                 "det_keep_aspect": args.det_keep_aspect}.items()
               if v is not None}
    if args.channels_last:
        options["channels_last"] = True
    options.update({k: v for k, v in (("backend", args.backend), ("precision", args.precision),
                                      ("streams", args.streams)) if v is not None})
    device = resolve_device(args.device)
    if not args.rootnet:
        return Estimator.from_bundle(args.model_dir or DEFAULT_MODEL_DIR, device=device,
                                     detector=detector_name(args.detector), **options)
    root_cfg = load_config(args.root_config).model if args.root_config else None
    pose_cfg = load_config(args.pose_config).model if args.pose_config else None
    det_cfg = load_config(args.detector_config).model if args.detector_config else None
    return Estimator.from_files(args.detector, args.rootnet, args.posenet, detector_arch=args.detector_arch,
                                det_cfg=det_cfg, pose_cfg=pose_cfg, root_cfg=root_cfg, device=device,
                                domain="published" if args.published else "own", **options)


# --------------------------------------------------------------------------------------------- outputs --

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


# ------------------------------------------------------------------------------------------ processing --

def people_dicts(result) -> list[dict]:
    return [{"bbox": p.bbox, "score": p.score, "joints_2d": p.joints_2d_px, "joints_cam_mm": p.joints_cam_mm}
            for p in result]


def render(image_bgr, result, title: str, with_3d: bool = True):
    """(2D overlay, 3D views or None) as BGR images; person i has the same colour in both."""
    people = people_dicts(result)
    overlay = draw_2d(image_bgr, people, result.skeleton)
    if not with_3d:
        return overlay, None
    f = result.intrinsics
    views = draw_3d(people, result.skeleton, title=f"{title}: {plural(len(people), 'person', 'people')}, "
                                                   f"camera frame (mm), fx={f.fx:g} px", size_px=FIGURE_3D_SIZE)
    return overlay, views


def with_notes(summary: str, notes: Sequence[str]) -> str:
    return summary + "".join(f" (note: {n})" for n in dict.fromkeys(notes))


def process_image(est, item: InputItem, out: OutputFolder, base: str, camera: dict,
                  boxes: BoxSource | None = None, html: bool = True) -> str:
    paths = [out.folder / f"{base}_2d.jpg", out.folder / f"{base}_3d.png", out.folder / f"{base}.json"]
    if html:
        paths += [out.folder / f"{base}_3d.html", *plotly_js_paths(out)]
    out.check(item, paths)  # before any work
    image = read_image(item.path, orientation="exif")
    try:
        result = (est.estimate(image, **camera) if boxes is None
                  else estimate_with_boxes(est, image, item.path, boxes, **camera))
    except MediaError as exc:  # the estimator names the array "image": name the file instead
        raise MediaError(f"{item.path}: {str(exc).removeprefix('image: ')}") from None
    overlay, views = render(image, result, item.path.name)
    doc = {"input": str(item.path), **result.to_dict()}
    data = [encode_image(overlay, ".jpg", paths[0]), encode_image(views, ".png", paths[1]),
            json.dumps(doc, indent=1, allow_nan=False).encode()]
    if html:
        data.append(image_page(doc, paths[0].name, item.path.name).encode())
        data += [plotly_js_bytes()] * (len(paths) - len(data))
    with out.writing(item, paths) as temps:
        for tmp, blob in zip(temps, data):
            tmp.write_bytes(blob)
    names = ", ".join(p.name for p in paths if p.name != PLOTLY_JS)
    return with_notes(f"{plural(len(result), 'person', 'people')} → " + names,
                      result.notes)


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).stem + ".camera.json")


def sidecar_camera(path: Path) -> dict:
    """Intrinsics from ``<image stem>.camera.json`` beside an image (``{"intrinsics": [fx, fy, cx, cy]}`` px),
    used when the command line gives none; the bundled demo images carry theirs this way."""
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        values = json.loads(side.read_text())["intrinsics"]
        return {"intrinsics": tuple(float(v) for v in values)}
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"{side}: expected {{\"intrinsics\": [fx, fy, cx, cy]}} ({exc})") from None


def synthetic_note(est, items: list[InputItem], prog: str) -> str | None:
    """The one note of a run in which a model trained on synthetic scenes only meets other inputs than the
    bundled demo images (None otherwise)."""
    identity = est.identity or {}
    if identity.get("domain") != "synthetic":
        return None
    demo = DEMO_IMAGES.resolve()
    if all(i.path.resolve().parent == demo for i in items if i.kind != "other" and i.error is None):
        return None
    command = f"python {prog}" if prog.endswith(".py") else prog
    return (f"note: the model {identity.get('name')} was trained on synthetic scenes only; on real photos it "
            f"misses people, takes windows and faces for people and gets depths wrong. For real images run the "
            f"published models: {command} {PUBLISHED_EXAMPLE} (README, \"Published models\").")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    prog = prog or "posenet3d demo"
    args = build_parser(prog).parse_args(argv)  # --help: SystemExit(0); a malformed option: one line, SystemExit(2)
    try:
        camera = check_args(args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.html and not have_plotly():
        print("note: plotly is not installed, so no 3D pages (pip install 'posenet3d[viewer]'; --no-html "
              "silences this)", file=sys.stderr)
        args.html = False
    items = discover_inputs(args.input or [DEFAULT_INPUT])
    try:
        boxes = None if args.boxes is None else read_boxes(args.boxes, args.boxes_class)
    except BoxesError as exc:
        print(f"{prog}: error: --boxes: {exc}", file=sys.stderr)
        return 2
    try:
        est = load_estimator(args)
    except (EstimatorError, CheckpointError, ConfigError, OSError, ValueError, RuntimeError) as exc:
        hint = ("; give --model-dir, or --detector/--rootnet/--posenet (see --help)"
                if args.model_dir is None and not args.detector else "")
        print(f"{prog}: error: cannot load the model: {exc}{hint}", file=sys.stderr)
        return 2
    out = OutputFolder(Path(args.output), set(), args.overwrite)
    named = {str(Path(s)) for s in (args.input or [])}
    skipped = [i for i in items if i.kind == "other" or (str(i.path) not in named and out.owns(i.path))]
    todo = [i for i in items if i not in skipped]
    # what the run reads is never replaced: its images and videos, and the images' camera sidecars
    out.inputs = {i.path.resolve() for i in todo} | {sidecar_path(i.path).resolve() for i in todo
                                                     if i.kind == "image" and sidecar_path(i.path).is_file()}
    if skipped:
        names = ", ".join(i.path.name for i in skipped[:4]) + (", …" if len(skipped) > 4 else "")
        print(f"skipped {len(skipped)} (not images or videos, or outputs of an earlier run): {names}")
    note = synthetic_note(est, todo, prog)
    if note:
        print(note, file=sys.stderr)
    if args.throughput:
        from posenet3d.commands.demo_throughput import run_throughput
        return run_throughput(est, todo, out, camera, args.batch_images, sidecar_camera)
    bases = output_bases(todo)
    if boxes is not None:
        print(f"boxes: {boxes.describe()}")
    failed: list[str] = []
    for item in tqdm(todo, desc="inputs", unit="input", disable=None if len(todo) > 1 else True):
        try:
            if item.error is not None:
                raise MediaError(item.error)
            if item.kind == "video" and boxes is not None:
                raise MediaError("--boxes gives boxes for images; a video runs the detector (drop --boxes)")
            if item.kind == "video":
                summary, notes = process_video(est, item, out, bases[item.path], camera, args.video_3d,
                                               args.smooth, args.start, args.max_frames, html=args.html,
                                               trail_frames=args.trail, bvh=args.bvh, bvh_y_up=args.bvh_y_up)
                summary = with_notes(summary, notes)
            else:
                summary = process_image(est, item, out, bases[item.path], camera or sidecar_camera(item.path),
                                        boxes, html=args.html)
        except (MediaError, EstimatorError, OutputRefused, ValueError, OSError, RuntimeError, cv2.error) as exc:
            message = str(exc).strip() or type(exc).__name__
            if not message.startswith(str(item.path)):
                message = f"{item.path}: {message}"
            print(f"FAILED {message}", file=sys.stderr)
            failed.append(str(item.path))
            continue
        print(f"{item.path}: {summary}")
    unused = boxes.unused() if boxes is not None else []
    if unused:
        names = ", ".join(unused[:5]) + (", …" if len(unused) > 5 else "")
        print(f"note: {boxes.path} has boxes for {plural(len(unused), 'image', 'images')} not in the input: {names}")
    done = len(todo) - len(failed)
    print(f"{done} of {len(items)} inputs processed, {len(skipped)} skipped (not images), "
          f"{len(failed)} failed; outputs in {out.folder}")
    return 1 if failed else 0
