"""End-to-end CPU latency of the estimator against the number of people, per stage, and batched vs crop by crop.

    posenet3d bench e2e [--model-dir demo/model] [--people 1 3 6 12] [--runs 2] [--threads N] [--skip-r50]
    posenet3d bench e2e --runtimes-only --runtime-people 1 6
    posenet3d bench e2e --runtimes-only --skip-r50 --fast det_keep_aspect=true --fast flip_test=false

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

* **backends and precisions** (``--runtime-people``, default 1 and 6 people): both variants end to end and per
  stage on torch fp32, torch bf16 autocast, ONNX Runtime fp32, OpenVINO fp32, OpenVINO bf16, ONNX Runtime int8
  and OpenVINO int8, side by side in one run (:mod:`posenet3d.runtime`); bf16 only where the CPU has native
  bf16 (the row says so otherwise); int8 from ONNX Runtime static quantisation calibrated on 8 images' inputs
  (random weights: the timings are what int8 costs, not its accuracy — docs/deploy.md has that).
  ``--fast KEY=VALUE ...`` (repeatable) adds rows for the fastest paths (torch fp32, OpenVINO fp32 and int8) with
  those estimator options, e.g. ``det_keep_aspect=true`` (the detector on a 416×256 canvas instead of 416² for the
  bundled model on this 16:9 image), ``flip_test=false``, ``det_input_size=320``.
  ``--runtimes-only`` runs only this section (with the matmul rate before and after it).

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

from posenet3d.commands import REPO, command_parser, estimator_options
from posenet3d.config import ModelConfig, load_config
from posenet3d.detection.model import CenterNet, ctdet_heads
from posenet3d.estimator import Estimator, build_network
from posenet3d.geometry import process_bboxes
from posenet3d.timing import time_ms

IMAGE_SIZE = (1280, 720)  # (W, H) px
STAGE_COLUMNS = ("detector", "crop", "rootnet", "posenet", "decode")


def _bf16_flags() -> str:
    from posenet3d.runtime import cpu_flags
    found = sorted(f for f in cpu_flags() if "bf16" in f or "vnni" in f or f.startswith("amx"))
    return ", ".join(found) if found else "no bf16, VNNI or AMX flags"


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


def r50_variant(channels_last: bool = False, **options) -> tuple[str, Estimator]:
    torch.manual_seed(0)
    pose_cfg, root_cfg = ModelConfig(task="posenet"), ModelConfig(task="rootnet")
    det = CenterNet("resdcn_18", ctdet_heads(1), head_conv=64)
    est = Estimator(det, build_network(root_cfg), build_network(pose_cfg), pose_cfg=pose_cfg, root_cfg=root_cfg,
                    det_input_size=512, channels_last=channels_last, **options)
    return "ResNet-50 PoseNet/RootNet 256² + resdcn_18 CenterNet 512²", est


def bundle_variant(model_dir: Path, channels_last: bool = False, **options) -> tuple[str, Estimator]:
    if (model_dir / "estimator.yaml").is_file():
        est = Estimator.from_bundle(model_dir, channels_last=channels_last, **options)
        return f"bundle {model_dir}", est
    torch.manual_seed(0)
    pose_cfg = load_config(REPO / "cfg" / "synthetic_posenet.yaml").model
    root_cfg = load_config(REPO / "cfg" / "synthetic_rootnet.yaml").model
    det = CenterNet("res_18", ctdet_heads(1), head_conv=64)
    est = Estimator(det, build_network(root_cfg), build_network(pose_cfg), pose_cfg=pose_cfg, root_cfg=root_cfg,
                    det_input_size=512, channels_last=channels_last, **options)
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
    x, _ = est.crop_batch(img, crop_boxes, est.pose_codec)
    batched = best_ms(lambda: est.run_posenet(x), runs)
    per_crop = best_ms(lambda: est.run_posenet(x, per_crop=True), runs)
    with FlopCounterMode(display=False) as counter:
        est.run_posenet(x)
    return {"batched": batched, "per_crop": per_crop, "gflop": counter.get_total_flops() / 1e9}


#: (backend, precision) of the runtime comparison, in column order.
RUNTIMES = (("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
            ("openvino", "bf16"), ("onnxruntime", "int8"), ("openvino", "int8"))


def int8_files(build: Callable, folder: Path) -> dict[str, Path]:
    """int8 ONNX files of a variant's networks (written to ``folder``), calibrated on the inputs of 8 synthetic
    images with 6 people (:func:`posenet3d.quantize.calibration_inputs`)."""
    from posenet3d.export import export_onnx
    from posenet3d.quantize import calibration_inputs, quantize_int8
    _, est = build(False)
    sizes = {"detector": est.det_input_size, "rootnet": est.root_codec.input_shape[0],
             "posenet": est.pose_codec.input_shape[0]}
    feeds = calibration_inputs(est, images=[synthetic_image(seed) for seed in range(1, 9)], boxes=person_boxes(6))
    files = {}
    for part, size in sizes.items():
        sha = ((est.identity or {}).get("files", {}).get(part) or {}).get("sha256")
        fp32 = export_onnx(part, getattr(est, part), size, joint_set=est.joint_set.name, source_sha256=sha)
        files[part] = folder / f"{part}.int8.onnx"
        files[part].write_bytes(quantize_int8(fp32, feeds[part], part))
    return files


FAST_RUNTIMES = (("torch", "fp32"), ("openvino", "fp32"), ("openvino", "int8"))


def bench_runtimes(build: Callable, people: list[int], runs: int, tmp: Path,
                   fast: list[dict] | None = None) -> tuple[str, list[dict]]:
    """(variant name, rows): end to end (ms per image) and per stage at each ``people`` count for every
    (backend, precision) of :data:`RUNTIMES`, then of :data:`FAST_RUNTIMES` with each of the ``fast`` estimator
    option sets; a row holds ``skipped`` (the reason) where one cannot run here."""
    from posenet3d.runtime import native_bf16
    rows, int8, name = [], None, ""
    todo = [(b, p, {}) for b, p in RUNTIMES] + [(b, p, o) for o in fast or [] for b, p in FAST_RUNTIMES]
    for backend, precision, extra in todo:
        settings = " ".join(f"{k}={v}" for k, v in extra.items()) or "bundle's"
        row = {"backend": backend, "precision": precision, "settings": settings}
        if precision == "bf16" and not native_bf16(backend):
            rows.append({**row, "skipped": "no native bf16 on this CPU"})
            continue
        options = {"backend": backend, "precision": precision, **extra}
        if precision == "int8":
            int8 = int8 or int8_files(build, tmp)
            options["onnx_files"] = int8
        t = time.perf_counter()
        name, est = build(False, **options)
        row["load_s"] = time.perf_counter() - t
        row["by_people"] = bench_end_to_end(est, people, runs)
        rows.append(row)
        del est
    return name, rows


def runtime_table(rows: list[dict], people: list[int]) -> str:
    ref = next(r for r in rows if r["backend"] == "torch" and r["precision"] == "fp32")
    ref_total = {b["people"]: b["total"] for b in ref["by_people"]}
    stages = ("detector", "rootnet", "posenet")
    header = ["backend", "precision", "settings"] + [f"{c} ms ({people[-1]} p.)" for c in stages] \
        + [f"total ms, {n} {'person' if n == 1 else 'people'}" for n in people] + [f"× torch fp32 ({people[-1]} p.)"]
    out = []
    for r in rows:
        if "skipped" in r:
            out.append([r["backend"], r["precision"], r["settings"], f"— ({r['skipped']})"] + [""] * (len(header) - 4))
            continue
        last = r["by_people"][-1]
        out.append([r["backend"], r["precision"], r["settings"]] + [f"{last[c]:.0f}" for c in stages]
                   + [f"{b['total']:.0f}" for b in r["by_people"]]
                   + [f"{ref_total[last['people']] / last['total']:.2f}×"])
    return table(header, out)


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
    p.add_argument("--runtime-people", type=int, nargs="+", default=[1, 6],
                   help="people counts of the backend/precision comparison (default 1 6)")
    p.add_argument("--runtimes-only", action="store_true", help="only the backend/precision comparison")
    p.add_argument("--skip-runtimes", action="store_true", help="no backend/precision comparison")
    p.add_argument("--fast", nargs="+", action="append", default=[], metavar="KEY=VALUE",
                   help="also the fastest paths with these estimator options (repeatable; e.g. det_keep_aspect=true "
                        "flip_test=false)")
    args = p.parse_args(argv)
    if args.runs < 1 or min(args.people) < 1:
        p.error("--runs and --people must be >= 1")
    try:
        fast = [estimator_options(items) for items in args.fast]
    except ValueError as exc:
        p.error(str(exc))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rate0 = matmul_gflops()
    print(f"# End-to-end estimator latency (CPU)\n\ntorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, image {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]} px, best of "
          f"{args.runs} runs; fp32 matmul 2048²: {rate0:.1f} GFLOP/s\n")

    builders = [lambda cl, **o: bundle_variant(args.model_dir, cl, **o)] + ([] if args.skip_r50 else [r50_variant])
    if not args.skip_runtimes:
        import tempfile
        print(f"## Backends and precisions, side by side\n\nms per image, flip test on (unless the settings say "
              f"otherwise); best of {args.runs} runs; speed-up against torch fp32 at {args.runtime_people[-1]} "
              f"people. CPU flags: {_bf16_flags()}\n")
        for build in builders:
            with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
                name, rows = bench_runtimes(build, sorted(args.runtime_people), args.runs, Path(tmp),
                                            fast)
            print(f"### {name}\n")
            print(runtime_table(rows, sorted(args.runtime_people)))
            print()
        if args.runtimes_only:
            rate1 = matmul_gflops()
            print(f"fp32 matmul rate: {rate0:.1f} GFLOP/s before, {rate1:.1f} after\n\n"
                  f"(total benchmark time {time.perf_counter() - start:.0f} s)")
            return 0
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
