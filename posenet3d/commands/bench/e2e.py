"""End-to-end CPU latency of the estimator against the number of people, per stage, and batched vs crop by crop.

    posenet3d bench e2e [--model-dir demo/model] [--people 1 3 6 12] [--runs 2] [--threads N] [--skip-r50]

What is timed (random weights: latency does not depend on them; ``torch.inference_mode``, eval mode, CPU):

* **machine**: the fp32 matmul rate (2048² × 2048², GFLOP/s) measured with torch, before and after the rest.
* **end to end** per image for 1, 3, 6, 12 people, for (a) the bundled variant (``--model-dir``, default
  ``demo/model``; when no bundle is there, a stand-in built from ``cfg/synthetic_{posenet,rootnet}.yaml`` with a
  res_18 CenterNet, labelled as such) and (b) the published-size models: ResNet-50 PoseNet/RootNet (21 joints,
  256²) with a resdcn_18 CenterNet (512²). The detector runs on the full 1280×720 image; the person stages get
  exactly N boxes (the detector output is replaced by N fixed boxes, so every N is exact). Stages: detector,
  crop (warp + normalise), RootNet, PoseNet (with the flip test), decode; total = their sum plus overheads.
* **PoseNet stage at 6 people with the flip test**: one batch of 12 crops (6 crops + their mirrors) against the
  reference's way, one network call per crop and per mirror, with channels_last off and on. FLOPs are counted
  with ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls; soft-argmax is not counted), and
  the achieved GFLOP/s is compared with the measured matmul rate.

Every figure is the best of ``--runs`` timed runs after one warm-up (the machine may be shared: the best run is
the least disturbed one). Prints markdown tables.
"""
from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from posenet3d.commands import REPO, command_parser
from posenet3d.config import ModelConfig, load_config
from posenet3d.detection.model import CenterNet, ctdet_heads
from posenet3d.estimator import Estimator, build_network
from posenet3d.geometry import process_bboxes
from posenet3d.timing import time_ms

IMAGE_SIZE = (1280, 720)  # (W, H) px
STAGE_COLUMNS = ("detector", "crop", "rootnet", "posenet", "decode")


def best_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Best wall-clock milliseconds of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    return min(time_ms(fn, runs, warmup))


def matmul_gflops(n: int = 2048, runs: int = 5) -> float:
    """Best fp32 ``n×n @ n×n`` rate of this machine with torch (GFLOP/s)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = best_ms(lambda: a @ b, runs)
    return 2.0 * n ** 3 / (ms / 1000.0) / 1e9


def synthetic_image(seed: int = 0) -> np.ndarray:
    """A smooth random BGR image of :data:`IMAGE_SIZE` (content does not change the timings)."""
    rng = np.random.default_rng(seed)
    w, h = IMAGE_SIZE
    small = rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def person_boxes(n: int) -> np.ndarray:
    """``n`` person-shaped boxes ``[x, y, w, h]`` px (1:2.2) on a grid over the image, partly overlapping."""
    w, h = IMAGE_SIZE
    cols = min(n, 6)
    rows = -(-n // cols)
    bw = w / (cols + 1)
    bh = min(2.2 * bw, h / rows * 0.95)
    out = []
    for i in range(n):
        r, c = divmod(i, cols)
        out.append([(c + 0.5) * bw + 0.25 * bw * (r % 2), r * h / rows + 0.02 * h, bw * 0.9, bh])
    return np.asarray(out, dtype=np.float64)


def r50_variant(channels_last: bool = False) -> tuple[str, Estimator]:
    torch.manual_seed(0)
    pose_cfg, root_cfg = ModelConfig(task="posenet"), ModelConfig(task="rootnet")
    det = CenterNet("resdcn_18", ctdet_heads(1), head_conv=64)
    est = Estimator(det, build_network(root_cfg), build_network(pose_cfg), pose_cfg=pose_cfg, root_cfg=root_cfg,
                    det_input_size=512, channels_last=channels_last)
    return "ResNet-50 PoseNet/RootNet 256² + resdcn_18 CenterNet 512²", est


def bundle_variant(model_dir: Path, channels_last: bool = False) -> tuple[str, Estimator]:
    if (model_dir / "estimator.yaml").is_file():
        est = Estimator.from_bundle(model_dir, channels_last=channels_last)
        return f"bundle {model_dir}", est
    torch.manual_seed(0)
    pose_cfg = load_config(REPO / "cfg" / "synthetic_posenet.yaml").model
    root_cfg = load_config(REPO / "cfg" / "synthetic_rootnet.yaml").model
    det = CenterNet("res_18", ctdet_heads(1), head_conv=64)
    est = Estimator(det, build_network(root_cfg), build_network(pose_cfg), pose_cfg=pose_cfg, root_cfg=root_cfg,
                    det_input_size=512, channels_last=channels_last)
    m = pose_cfg
    return (f"stand-in for the bundle (no {model_dir}/estimator.yaml): cfg/synthetic_* "
            f"(ResNet-{m.backbone_depth} ×{m.backbone_width:g}, {m.input_size}², {m.depth_dim} bins) + res_18 "
            f"CenterNet 512²"), est


def bench_end_to_end(est: Estimator, people: list[int], runs: int) -> list[dict[str, float]]:
    img = synthetic_image()
    det_ms = best_ms(lambda: est.detect(img), runs)
    est.estimate_from_boxes(img, person_boxes(1))  # warm-up
    rows = []
    for n in people:
        boxes = person_boxes(n)
        results = [est.estimate_from_boxes(img, boxes) for _ in range(runs)]
        best = min(results, key=lambda r: r.timings_ms["total"])
        assert len(best) == n, f"expected {n} people, got {len(best)}"
        row = {"people": n, "detector": det_ms, **{k: best.timings_ms[k] for k in STAGE_COLUMNS[1:]}}
        row["total"] = det_ms + best.timings_ms["total"]
        rows.append(row)
    return rows


def bench_pose_stage(est: Estimator, n_people: int, runs: int) -> dict[str, float]:
    """PoseNet stage (flip test on) at ``n_people``: batched vs per crop (ms), FLOPs of the batched call."""
    img = synthetic_image()
    w, h = IMAGE_SIZE
    crop_boxes, _ = process_bboxes(person_boxes(n_people), w, h)
    x = est.crop_batch(img, crop_boxes, est.pose_codec)
    batched = best_ms(lambda: est.run_posenet(x), runs)
    per_crop = best_ms(lambda: est.run_posenet(x, per_crop=True), runs)
    with FlopCounterMode(display=False) as counter:
        est.run_posenet(x)
    return {"batched": batched, "per_crop": per_crop, "gflop": counter.get_total_flops() / 1e9}


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--model-dir", type=Path, default=REPO / "demo" / "model", help="estimator bundle (variant a)")
    p.add_argument("--people", type=int, nargs="+", default=[1, 3, 6, 12])
    p.add_argument("--runs", type=int, default=2, help="timed runs per figure (best is reported)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    p.add_argument("--skip-r50", action="store_true", help="only the bundled variant")
    args = p.parse_args(argv)
    if args.runs < 1 or min(args.people) < 1:
        p.error("--runs and --people must be >= 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rate0 = matmul_gflops()
    print(f"# End-to-end estimator latency (CPU)\n\ntorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, image {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]} px, best of "
          f"{args.runs} runs; fp32 matmul 2048²: {rate0:.1f} GFLOP/s\n")

    builders = [lambda cl: bundle_variant(args.model_dir, cl)] + ([] if args.skip_r50 else [r50_variant])
    stage_rows = []
    for build in builders:
        name, est = build(False)
        rows = bench_end_to_end(est, args.people, args.runs)
        print(f"## {name}\n\nflip test on, {est.joint_set.joint_num} joints; ms per image\n")
        print(table(["people", *STAGE_COLUMNS, "total"],
                    [[str(r["people"])] + [f"{r[k]:.0f}" for k in (*STAGE_COLUMNS, "total")] for r in rows]))
        print()
        for cl in (False, True):
            if cl:
                name, est = build(True)
            s = bench_pose_stage(est, 6, args.runs)
            stage_rows.append((name.split(":")[0].split(" (")[0], cl, s))
        del est

    rate1 = matmul_gflops()
    rate = (rate0 + rate1) / 2.0
    print(f"## PoseNet stage, 6 people, flip test (12 crops): batched vs crop by crop\n\n"
          f"fp32 matmul rate: {rate0:.1f} GFLOP/s before, {rate1:.1f} after; the mean {rate:.1f} is the reference "
          f"below. Targets: batched ≥ 4× faster than crop by crop; ≥ 50 % of the matmul rate.\n")
    rows = []
    for name, cl, s in stage_rows:
        achieved = s["gflop"] / (s["batched"] / 1000.0)
        rows.append([name, "on" if cl else "off", f"{s['batched']:.0f}", f"{s['per_crop']:.0f}",
                     f"{s['per_crop'] / s['batched']:.2f}×", f"{s['gflop']:.1f}", f"{achieved:.1f}",
                     f"{100.0 * achieved / rate:.0f} %"])
    print(table(["variant", "channels_last", "batched ms", "crop by crop ms", "speed-up", "GFLOP", "GFLOP/s",
                 "of matmul rate"], rows))
    print(f"\n(total benchmark time {time.perf_counter() - start:.0f} s)")
    return 0
