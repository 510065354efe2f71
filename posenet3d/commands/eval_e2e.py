"""End-to-end evaluation of an estimator (image → absolute 3D people) on a test set with 3D ground truth.

    posenet3d eval-e2e --model-dir demo/model --data data/Synthetic/test            # the bundled model
    posenet3d eval-e2e --model-dir demo/model --data data/MuPoTS --num 100
    posenet3d eval-e2e --model-dir demo/model --backend onnxruntime --precision int8
    posenet3d eval-e2e --model-dir demo/model --backend onnxruntime --precision posenet=int8

Reads a MuPoTS-3D-layout test set (``data/MuPoTS`` or the synthetic world's ``test`` split), runs the whole
pipeline on every image with its own intrinsics (detector → RootNet → PoseNet, no ground truth used), and
matches predicted to annotated people one-to-one by 3D root distance (greedy, closest first). Per matching radius
it prints recall (matched / annotated), precision (matched / predicted), the MRPE of the matched people and their
root-relative MPJPE over the joints both skeletons have (mm, camera frame); then the matched joints' error per
decile of their confidence (:attr:`posenet3d.results.Person.joint_conf`): a useful confidence gives errors that
fall as it rises. With ``--det-ap COCO_JSON`` (the split's ``coco_person_keypoints.json``; image ``file_name``
relative to ``<data>/data``) also the COCO box AP of the estimator's person boxes at its own score threshold
(the operating point, so lower than the detector's AP over all peaks). ``--out FILE`` also writes the tables as
JSON (atomically). ``--backend`` and ``--precision``
(one for all networks, or ``PART=PRECISION,…``) choose what runs the networks (docs/deploy.md).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from posenet3d.checkpoint import CheckpointError
from posenet3d.commands import command_parser
from posenet3d.datasets.base import DatasetError
from posenet3d.datasets.registry import build_dataset
from posenet3d.estimator import Estimator, EstimatorError
from posenet3d.evaluation.report import write_result_json
from posenet3d.metrics import error_by_confidence, match_roots
from posenet3d.skeletons import get_joint_set


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--model-dir", default="demo/model", help="estimator bundle (default: demo/model)")
    p.add_argument("--data", default="data/Synthetic/test", help="MuPoTS-3D-layout test set root")
    p.add_argument("--num", type=int, default=None, help="first N images only")
    p.add_argument("--radii", type=float, nargs="+", default=[250.0, 500.0, 1000.0], help="matching radii, mm")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    p.add_argument("--det-ap", default=None, metavar="COCO_JSON",
                   help="also the person-box AP against this COCO json (e.g. data/Synthetic/test/"
                        "coco_person_keypoints.json)")
    p.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default="torch")
    p.add_argument("--precision", default="fp32", help="fp32, bf16, int8, or PART=PRECISION,... (others fp32)")
    p.add_argument("--det-keep-aspect", action=argparse.BooleanOptionalAction, default=None,
                   help="detector on a canvas of the image's shape instead of the square (default: the bundle's)")
    p.add_argument("--det-input-size", type=int, default=None, help="detector input side, px (default: the bundle's)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="PoseNet flip test (default: the bundle's, else on)")
    args = p.parse_args(argv)
    precision = args.precision
    if "=" in precision:
        try:
            precision = dict(item.split("=", 1) for item in precision.split(","))
        except ValueError:
            p.error(f"--precision {args.precision}: expected PART=PRECISION,...")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        options = {k: v for k, v in (("det_keep_aspect", args.det_keep_aspect), ("flip_test", args.flip),
                                     ("det_input_size", args.det_input_size)) if v is not None}
        est = Estimator.from_bundle(args.model_dir, backend=args.backend, precision=precision, **options)
        records = build_dataset("MuPoTS", "test", root=args.data).records
    except (EstimatorError, CheckpointError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ev = _Evaluation(est, records, sorted(args.radii))
    by_image: dict[str, list] = defaultdict(list)
    for r in records:
        by_image[r.img_path].append(r)
    images = sorted(by_image)[:args.num]
    for path in tqdm(images, desc="images", disable=not sys.stderr.isatty()):
        ev.add_image(path, by_image[path])
    rows = ev.rows()
    print(f"{len(images) - len(ev.failed)} images, {ev.annotated} annotated people, {ev.predicted} predicted "
          f"({args.model_dir} on {args.data}; joints compared: {len(ev.common)}; backend {args.backend}, "
          f"precision {args.precision}; detector canvas {'keep-aspect' if est.det_keep_aspect else 'square'} "
          f"{est.det_input_size} px, flip test {'on' if est.flip_test else 'off'})")
    _print_rows(rows)
    deciles = error_by_confidence(np.array(ev.joint_err), np.array(ev.joint_conf))
    _print_deciles(deciles, max(args.radii))
    det_ap = None
    if args.det_ap:
        det_ap = _det_ap(args.det_ap, Path(args.data) / "data", ev.boxes, images)
        print(f"person-box AP (COCO, at the estimator's score threshold {est.det_score_thresh:g}): "
              f"AP {det_ap['AP']:.4f}, AP50 {det_ap['AP50']:.4f}")
    if args.out:
        out = Path(args.out)
        write_result_json({"model_dir": args.model_dir, "data": args.data, "backend": args.backend,
                           "precision": args.precision, "images": len(images),
                           "failed": ev.failed, "annotated": ev.annotated, "predicted": ev.predicted,
                           "joints_compared": ev.common, "by_radius": rows, "error_by_joint_confidence": deciles,
                           "person_box_ap": det_ap},
                          out.stem, out.parent)
    return 1 if ev.failed else 0


class _Evaluation:
    """Running counts of one end-to-end evaluation: matches per radius, and each matched joint's root-relative
    error (mm) with its confidence at the largest radius."""

    def __init__(self, est: Estimator, records: list, radii: list[float]) -> None:
        self.est, self.radii = est, radii
        gt_set, names = get_joint_set(records[0].joint_set), est.joint_names
        self.common = [n for n in gt_set.joints_name if n in names]
        self.gi = [gt_set.joints_name.index(n) for n in self.common]
        self.pi = [names.index(n) for n in self.common]
        self.g_root, self.p_root = gt_set.root_idx, names.index(gt_set.joints_name[gt_set.root_idx])
        self.stats = {r: {"matched": 0, "root_err": [], "mpjpe": []} for r in radii}
        self.annotated = self.predicted = 0
        self.failed: list[str] = []
        self.joint_err: list[float] = []
        self.joint_conf: list[float] = []
        self.boxes: dict[str, list[tuple[list[float], float]]] = {}

    def add_image(self, path: str, recs: list) -> None:
        r0 = recs[0]
        try:
            result = self.est.estimate(path, intrinsics=(*r0.focal, *r0.princpt))
        except (EstimatorError, OSError, ValueError) as exc:
            self.failed.append(f"{path}: {exc}")
            print(f"warning: {path}: {exc}", file=sys.stderr)
            return
        self.boxes[path] = [([float(v) for v in q.bbox], float(q.score)) for q in result.people]
        gt_root = np.array([r.root_cam for r in recs], dtype=np.float64)
        pred_root = np.array([q.root_cam_mm for q in result.people], dtype=np.float64).reshape(-1, 3)
        self.annotated += len(recs)
        self.predicted += len(pred_root)
        for radius in self.radii:
            for i, j in match_roots(pred_root, gt_root, radius):
                person = result.people[i]
                pj = np.asarray(person.joints_cam_mm, dtype=np.float64)
                gj = np.asarray(recs[j].joints_cam, dtype=np.float64)
                err = np.linalg.norm((pj[self.pi] - pj[self.p_root]) - (gj[self.gi] - gj[self.g_root]), axis=1)
                s = self.stats[radius]
                s["matched"] += 1
                s["root_err"].append(float(np.linalg.norm(pred_root[i] - gt_root[j])))
                s["mpjpe"].append(float(err.mean()))
                if radius == self.radii[-1] and person.joint_conf is not None:
                    self.joint_err.extend(err.tolist())
                    self.joint_conf.extend(np.asarray(person.joint_conf)[self.pi].tolist())

    def rows(self) -> list[dict]:
        return [{"radius_mm": radius, "recall_percent": 100.0 * s["matched"] / max(self.annotated, 1),
                 "precision_percent": 100.0 * s["matched"] / max(self.predicted, 1),
                 "mrpe_matched_mm": float(np.mean(s["root_err"])) if s["root_err"] else None,
                 "mpjpe_matched_mm": float(np.mean(s["mpjpe"])) if s["mpjpe"] else None}
                for radius, s in self.stats.items()]


def _det_ap(coco_json: str, image_root: Path, boxes: dict[str, list], images: list[str]) -> dict[str, float]:
    """COCO person-box AP of the evaluated images' boxes (``{image path: [(xywh, score)]}``), against the
    annotations of those images only."""
    import json

    from posenet3d.evaluation.detection import evaluate_person_ap
    gt = json.loads(Path(coco_json).read_text())
    ids = {str((image_root / im["file_name"]).resolve()): im["id"] for im in gt["images"]}
    wanted = {ids[str(Path(p).resolve())] for p in images if str(Path(p).resolve()) in ids}
    gt = {**gt, "images": [im for im in gt["images"] if im["id"] in wanted],
          "annotations": [a for a in gt["annotations"] if a["image_id"] in wanted]}
    dets = [{"image_id": ids[str(Path(p).resolve())], "category_id": 1, "bbox": b, "score": s}
            for p, found in boxes.items() if str(Path(p).resolve()) in ids for b, s in found]
    return evaluate_person_ap(gt, dets)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _print_rows(rows: list[dict]) -> None:
    print("radius mm  recall %  precision %  MRPE matched mm  MPJPE matched mm")
    for row in rows:
        print(f"{row['radius_mm']:9.0f}  {row['recall_percent']:8.1f}  {row['precision_percent']:11.1f}  "
              f"{_fmt(row['mrpe_matched_mm']):>15}  {_fmt(row['mpjpe_matched_mm']):>16}")


def _print_deciles(deciles: list[dict], radius: float) -> None:
    print(f"root-relative joint error by joint confidence decile (people matched within {radius:.0f} mm):")
    print("confidence range  joints  mean mm  median mm")
    for d in deciles:
        print(f"{d['conf_low']:.3f}-{d['conf_high']:.3f}  {d['count']:6d}  {d['mean_err_mm']:7.1f}  "
              f"{d['median_err_mm']:9.1f}")
