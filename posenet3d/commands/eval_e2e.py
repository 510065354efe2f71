"""End-to-end evaluation of an estimator (image → absolute 3D people) on a test set with 3D ground truth.

    posenet3d eval-e2e --model-dir demo/model --data data/Synthetic/test            # the bundled model
    posenet3d eval-e2e --model-dir demo/model --data data/MuPoTS --num 100

Reads a MuPoTS-3D-layout test set (``data/MuPoTS`` or the synthetic world's ``test`` split), runs the whole
pipeline on every image with its own intrinsics (detector → RootNet → PoseNet, no ground truth used), and
matches predicted to annotated people one-to-one by 3D root distance (greedy, closest first). Per matching radius
it prints recall (matched / annotated), precision (matched / predicted), the MRPE of the matched people and their
root-relative MPJPE over the joints both skeletons have (mm, camera frame). ``--out FILE`` also writes the table
as JSON (atomically).
"""
from __future__ import annotations

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
from posenet3d.metrics import match_roots
from posenet3d.skeletons import get_joint_set


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--model-dir", default="demo/model", help="estimator bundle (default: demo/model)")
    p.add_argument("--data", default="data/Synthetic/test", help="MuPoTS-3D-layout test set root")
    p.add_argument("--num", type=int, default=None, help="first N images only")
    p.add_argument("--radii", type=float, nargs="+", default=[250.0, 500.0, 1000.0], help="matching radii, mm")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        est = Estimator.from_bundle(args.model_dir)
        records = build_dataset("MuPoTS", "test", root=args.data).records
    except (EstimatorError, CheckpointError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    by_image: dict[str, list] = defaultdict(list)
    for r in records:
        by_image[r.img_path].append(r)
    images = sorted(by_image)[:args.num]
    gt_set = get_joint_set(records[0].joint_set)
    names = est.joint_names
    common = [n for n in gt_set.joints_name if n in names]
    gi = [gt_set.joints_name.index(n) for n in common]
    pi = [names.index(n) for n in common]
    g_root, p_root = gt_set.root_idx, names.index(gt_set.joints_name[gt_set.root_idx])
    stats = {r: {"matched": 0, "root_err": [], "mpjpe": []} for r in args.radii}
    annotated = predicted = 0
    failed = []
    for path in tqdm(images, desc="images", disable=not sys.stderr.isatty()):
        recs = by_image[path]
        r0 = recs[0]
        try:
            result = est.estimate(path, intrinsics=(*r0.focal, *r0.princpt))
        except (EstimatorError, OSError, ValueError) as exc:
            failed.append(f"{path}: {exc}")
            print(f"warning: {path}: {exc}", file=sys.stderr)
            continue
        gt_root = np.array([r.root_cam for r in recs], dtype=np.float64)
        pred_root = np.array([q.root_cam_mm for q in result.people], dtype=np.float64).reshape(-1, 3)
        annotated += len(recs)
        predicted += len(pred_root)
        for radius in args.radii:
            for i, j in match_roots(pred_root, gt_root, radius):
                pj = np.asarray(result.people[i].joints_cam_mm, dtype=np.float64)
                gj = np.asarray(recs[j].joints_cam, dtype=np.float64)
                rel_p, rel_g = pj[pi] - pj[p_root], gj[gi] - gj[g_root]
                s = stats[radius]
                s["matched"] += 1
                s["root_err"].append(float(np.linalg.norm(pred_root[i] - gt_root[j])))
                s["mpjpe"].append(float(np.linalg.norm(rel_p - rel_g, axis=1).mean()))
    rows = []
    for radius, s in stats.items():
        rows.append({"radius_mm": radius, "recall_percent": 100.0 * s["matched"] / max(annotated, 1),
                     "precision_percent": 100.0 * s["matched"] / max(predicted, 1),
                     "mrpe_matched_mm": float(np.mean(s["root_err"])) if s["root_err"] else None,
                     "mpjpe_matched_mm": float(np.mean(s["mpjpe"])) if s["mpjpe"] else None})
    print(f"{len(images) - len(failed)} images, {annotated} annotated people, {predicted} predicted "
          f"({args.model_dir} on {args.data}; joints compared: {len(common)})")
    print("radius mm  recall %  precision %  MRPE matched mm  MPJPE matched mm")
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for row in rows:
        print(f"{row['radius_mm']:9.0f}  {row['recall_percent']:8.1f}  {row['precision_percent']:11.1f}  "
              f"{fmt(row['mrpe_matched_mm']):>15}  {fmt(row['mpjpe_matched_mm']):>16}")
    if args.out:
        out = Path(args.out)
        write_result_json({"model_dir": args.model_dir, "data": args.data, "images": len(images),
                           "failed": failed, "annotated": annotated, "predicted": predicted,
                           "joints_compared": common, "by_radius": rows}, out.stem, out.parent)
    return 1 if failed else 0
