"""Pick a detector operating point: precision, recall and F1 at IoU ≥ 0.5 for a range of score thresholds.

    posenet3d tune-detector --cfg cfg/synthetic_centernet.yaml --weights SNAPSHOT \\
        --ann data/Synthetic/train/coco_person_keypoints.json --images data/Synthetic/train/data --num 100

Run it on training images (not the test split you report on). Detections are matched to the COCO-format ground
truth greedily by IoU, highest score first (crowd boxes ignored); ``--nms-iou``, ``--input-size``,
``--flip-test`` and ``--keep-aspect`` are the settings the estimator would use (``posenet3d bundle make
--det-thresh/--det-nms-iou/--det-input-size/--det-flip-test/--det-keep-aspect``).
"""
from __future__ import annotations

import sys

import numpy as np
import torch
from torchvision.ops import box_iou

from posenet3d.checkpoint import CheckpointError
from posenet3d.commands import command_parser
from posenet3d.config import ConfigError, load_config
from posenet3d.datasets.base import DatasetError
from posenet3d.detection.pipeline import detect_people, read_coco_person_json
from posenet3d.engine import load_for_test
from posenet3d.media import MediaError, read_image


def count_matches(boxes_xywh: np.ndarray, scores: np.ndarray, gt_xywh: np.ndarray, thresholds: np.ndarray,
                  iou_min: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """True positives and detections kept per threshold for one image (greedy, highest score first)."""
    order = np.argsort(-scores)
    boxes, scores = boxes_xywh[order], scores[order]
    tp = np.zeros(len(thresholds), dtype=np.int64)
    kept = np.array([(scores >= t).sum() for t in thresholds], dtype=np.int64)
    if len(boxes) == 0 or len(gt_xywh) == 0:
        return tp, kept
    def xyxy(b: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.c_[b[:, :2], b[:, :2] + b[:, 2:]], dtype=torch.float64)

    iou = box_iou(xyxy(boxes), xyxy(gt_xywh)).numpy()
    used = np.zeros(len(gt_xywh), dtype=bool)
    hit = np.zeros(len(boxes), dtype=bool)
    for i in range(len(boxes)):
        cand = np.where(~used & (iou[i] >= iou_min))[0]
        if len(cand):
            used[cand[np.argmax(iou[i, cand])]] = True
            hit[i] = True
    for n, t in enumerate(thresholds):
        tp[n] = hit[scores >= t].sum()
    return tp, kept


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--cfg", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--ann", required=True, help="COCO-format person annotations")
    p.add_argument("--images", required=True, help="image folder of --ann")
    p.add_argument("--num", type=int, default=100, help="first N images of --ann (default 100)")
    p.add_argument("--input-size", type=int, default=None, help="detector input side (default: the config's)")
    p.add_argument("--nms-iou", type=float, default=None, help="box NMS IoU (default: none)")
    p.add_argument("--flip-test", action="store_true", help="average the detector over the mirrored image")
    p.add_argument("--keep-aspect", action="store_true",
                   help="a canvas of the image's shape (long side --input-size) instead of the square")
    p.add_argument("overrides", nargs="*")
    args = p.parse_intermixed_args(argv)
    thresholds = np.round(np.arange(0.05, 0.96, 0.05), 2)
    try:
        cfg = load_config(args.cfg, args.overrides)
        model = load_for_test(cfg, args.weights, torch.device("cpu"))
        entries = read_coco_person_json(args.ann, args.images, include_crowd=False)[:args.num]
    except (ConfigError, CheckpointError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = args.input_size or cfg.model.input_size
    tp = np.zeros(len(thresholds), dtype=np.int64)
    kept = np.zeros(len(thresholds), dtype=np.int64)
    num_gt = 0
    for e in entries:
        try:
            img = read_image(e.path)
        except MediaError as exc:
            print(f"warning: {exc}; skipped", file=sys.stderr)
            continue
        det = detect_people(model, img, input_size=size, nms_iou=args.nms_iou, flip_test=args.flip_test,
                            keep_aspect=args.keep_aspect)[0]
        gt = e.boxes_xywh
        t, k = count_matches(det.boxes_xywh(), det.scores, gt, thresholds)
        tp += t
        kept += k
        num_gt += len(gt)
    canvas = " long side, keep-aspect canvas" if args.keep_aspect else "²"
    print(f"{len(entries)} images, {num_gt} people, input {size}{canvas}, "
          f"NMS IoU {args.nms_iou}, "
          f"flip test {'on' if args.flip_test else 'off'}")
    print("thresh  precision  recall  F1")
    for t, a, b in zip(thresholds, tp, kept):
        prec = a / b if b else 1.0
        rec = a / num_gt if num_gt else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        print(f"{t:6.2f}  {prec:9.3f}  {rec:6.3f}  {f1:.3f}")
    return 0
