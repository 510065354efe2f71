"""Verify an install on this machine's GPUs in one command: training (DDP over NCCL, AMP), interruptions, inference.

On every visible GPU (or the ones --gpu lists), with a tiny synthetic world made on the spot, it checks:
  * two tiny epochs each of PoseNet, RootNet and CenterNet with DistributedDataParallel over NCCL (one process
    per GPU) and AMP (bf16 on compute capability ≥ 8.0, else fp16 + GradScaler);
  * interruptions: a run stopped by SIGTERM (exit 143, the last good snapshot named), resumed, killed with
    SIGKILL after its next snapshot, and resumed again to the end at the right epoch with no temporary left;
  * the estimator (bundled model) on CUDA against the CPU: same people, joints within tolerance.
One PASS/FAIL line per check with its time; exit 0 when all pass, 1 when any fails, 2 on bad usage.
``--cpu`` runs the same checks on the CPU (gloo, two processes, no AMP): the checker itself, as the tests run it.

Examples:
  posenet3d gpu-check                        # every visible GPU
  posenet3d gpu-check --gpu 0,1 --keep       # two GPUs; keep the runs (their logs) in the work folder
  python main/gpu_check.py --cpu             # the same checks on the CPU
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from posenet3d.commands import command_parser
from posenet3d.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "demo" / "model"
DEFAULT_IMAGES = REPO / "demo" / "images"
TASKS = ("posenet", "rootnet", "centernet")
#: CUDA (TF32 convolutions, other kernels) against the CPU on the same weights and image.
TOLERANCE_PX, TOLERANCE_MM = 1.0, 10.0


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name:<30} {self.seconds:7.1f} s  {self.detail}"


@dataclass
class Setup:
    """Where the checks run: GPUs (empty: the CPU with ``cpu_processes`` gloo workers) and the work folder."""

    gpus: list[int]
    cpu_processes: int
    work: Path
    world: Path

    @property
    def processes(self) -> int:
        return len(self.gpus) or self.cpu_processes

    @property
    def gpu_spec(self) -> str:
        return ",".join(str(g) for g in self.gpus)


def tiny_overrides(world: Path, out: Path, task: str) -> list[str]:
    """Config overrides for a very small network of ``task`` on the tiny world (seconds per epoch)."""
    common = [f"name=check_{task}", f"output_dir={out}", f"model.task={task}", "model.pretrained=none",
              "model.backbone_depth=18", "model.backbone_width=0.25", "model.input_size=64", "data.num_workers=0",
              "train.batch_size=2", "train.end_epoch=2", "train.max_iters_per_epoch=2", "train.log_interval=2",
              "train.lr=1e-3"]
    if task == "centernet":
        return common + ["model.arch=res_18", "model.head_conv=8", "model.num_classes=1",
                         f"data.det_train_ann={world / 'train' / 'coco_person_keypoints.json'}",
                         f"data.det_train_images={world / 'train' / 'data'}"]
    return common + ["model.depth_dim=8", "model.head_channels=16", "data.trainset_3d=[MuCo]", "data.trainset_2d=[]",
                     "data.testset=MuPoTS", f"data.roots={{MuCo: {world / 'train'}, MuPoTS: {world / 'test'}}}"]


def _timed(name: str, fn: Callable[[], tuple[bool, str]]) -> Check:
    t0 = time.perf_counter()
    try:
        ok, detail = fn()
    except Exception as exc:  # noqa: BLE001 — a check that raises has failed; the others still run
        ok, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return Check(name, ok, time.perf_counter() - t0, detail)


def _amp_text(setup: Setup) -> str:
    from posenet3d.engine import amp_settings
    if not setup.gpus:
        return "AMP off (CPU)"
    _, dtype = amp_settings(torch.device("cuda", setup.gpus[0]), True)
    return f"AMP {str(dtype).replace('torch.', '')}"


def check_training(setup: Setup, task: str) -> tuple[bool, str]:
    """Two tiny epochs of ``task``: both snapshots and metrics lines, finite losses."""
    from posenet3d.checkpoint import list_snapshots, load_file
    from posenet3d.runs import run_dirs
    cfg_file = _write_config(setup, task, [])
    cfg = load_config(cfg_file)
    res = subprocess.run(_train_command(setup, cfg_file), capture_output=True, text=True, check=False)
    (cfg_file.parent / "train.out").write_text(res.stderr)
    if res.returncode != 0:
        return False, f"exit {res.returncode}: {(res.stderr.strip().splitlines() or [''])[-1]}"
    model_dump, log_dir = run_dirs(cfg)
    lines = [json.loads(x) for x in (log_dir / "metrics.jsonl").read_text().splitlines()]
    snaps = [e for e, _ in list_snapshots(model_dump)]
    losses = [r["loss"] for r in lines]
    ok = [r["epoch"] for r in lines] == [0, 1] and snaps == [0, 1] and all(math.isfinite(v) for v in losses)
    ok = ok and int(load_file(list_snapshots(model_dump)[-1][1])["epoch"]) == 1
    backend = "NCCL" if setup.gpus else "gloo"
    return ok, (f"{setup.processes} process(es), {backend}, {_amp_text(setup)}: loss {losses[0]:.3f} → "
                f"{losses[-1]:.3f}, epochs {[r['epoch'] for r in lines]}, snapshots {snaps}")


def _write_config(setup: Setup, task: str, extra: list[str], folder: str | None = None) -> Path:
    """The tiny run's config as a YAML file in its output folder (for ``posenet3d train --cfg``)."""
    from posenet3d.config import dump_config
    out = setup.work / (folder or task)
    path = out / "check.yaml"
    dump_config(load_config(None, [*tiny_overrides(setup.world, out, task), *extra]), path)
    return path


def _train_command(setup: Setup, cfg_file: Path, *extra: str) -> list[str]:
    device = ["--gpu", setup.gpu_spec] if setup.gpus else ["--cpu-processes", str(setup.cpu_processes)]
    return [sys.executable, "-m", "posenet3d", "train", "--cfg", str(cfg_file), *device, *extra]


def _start(cmd: list[str], log_file: Path) -> subprocess.Popen:
    with open(log_file, "w") as f:  # the child keeps its own handle
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return cond()
        time.sleep(0.1)
    return False


def check_interruptions(setup: Setup, timeout: float = 300) -> tuple[bool, str]:
    """SIGTERM → exit 143 naming the last snapshot; --continue; SIGKILL after the next snapshot; --continue to
    the end: resumes at the right epoch, loads, leaves no temporary file."""
    from posenet3d.checkpoint import list_snapshots, load_file
    cfg_file = _write_config(setup, "posenet", ["train.end_epoch=100000"], folder="interrupt")
    out = cfg_file.parent
    dump = out / "model_dump"

    def latest() -> int:
        snaps = list_snapshots(dump)
        return snaps[-1][0] if snaps else -1

    proc = _start(_train_command(setup, cfg_file), out / "run1.log")
    if not _wait_for(lambda: latest() >= 0, proc, timeout):
        proc.kill()
        return False, f"no first snapshot within {timeout:.0f} s (see {out / 'run1.log'})"
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=timeout)
    text = (out / "run1.log").read_text()
    if rc != 143 or "the last good snapshot is" not in text:
        return False, f"SIGTERM: exit {rc} (expected 143), message: {text.strip().splitlines()[-1:]}"
    stopped_at = latest()

    proc = _start(_train_command(setup, cfg_file, "--continue"), out / "run2.log")
    if not _wait_for(lambda: latest() > stopped_at, proc, timeout):
        proc.kill()
        return False, f"after --continue no new snapshot within {timeout:.0f} s (see {out / 'run2.log'})"
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and every worker
    proc.wait()
    killed_at = latest()

    final = killed_at + 2
    res = subprocess.run(_train_command(setup, cfg_file, "--continue", f"train.end_epoch={final}"),
                         capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        return False, f"resume after SIGKILL: exit {res.returncode}: {res.stderr.strip().splitlines()[-1:]}"
    starts = f"starting at epoch {killed_at + 1}" in res.stderr
    last_ok = latest() == final - 1 and int(load_file(list_snapshots(dump)[-1][1])["epoch"]) == final - 1
    tmp = list(dump.glob(".*.tmp"))
    ok = starts and last_ok and not tmp
    return ok, (f"SIGTERM → 143 after epoch ≥ {stopped_at}; SIGKILL after epoch {killed_at}; resumed at "
                f"{killed_at + 1} {'✓' if starts else '✗'}, last snapshot {latest()}, temporaries left {len(tmp)}")


def check_estimator(setup: Setup, bundle: Path, images: list[Path]) -> tuple[bool, str]:
    """The bundled estimator on the GPU (or a second CPU instance) against the CPU, image by image."""
    from posenet3d.estimator import Estimator
    device = f"cuda:{setup.gpus[0]}" if setup.gpus else "cpu"
    ref, test = Estimator.from_bundle(bundle, device="cpu"), Estimator.from_bundle(bundle, device=device)
    worst_px = worst_mm = 0.0
    people, ms = 0, []
    for path in images:
        a = ref.estimate(str(path))
        test.estimate(str(path))  # warm-up (cuDNN autotuning)
        t0 = time.perf_counter()
        b = test.estimate(str(path))
        ms.append(1000 * (time.perf_counter() - t0))
        if len(a) != len(b):
            return False, f"{path.name}: {len(a)} people on the CPU, {len(b)} on {device}"
        for pa, pb in zip(a, b):
            worst_px = max(worst_px, float(np.abs(pa.joints_2d_px - pb.joints_2d_px).max()))
            worst_mm = max(worst_mm, float(np.abs(pa.joints_cam_mm - pb.joints_cam_mm).max()))
        people += len(a)
    ok = people > 0 and worst_px <= TOLERANCE_PX and worst_mm <= TOLERANCE_MM
    return ok, (f"{len(images)} images, {people} people on {device} vs CPU: max |Δ| {worst_px:.3f} px, "
                f"{worst_mm:.2f} mm (limits {TOLERANCE_PX} px, {TOLERANCE_MM} mm); {np.median(ms):.0f} ms/image")


def run_checks(gpus: list[int], work: Path, cpu_processes: int = 2, bundle: Path = DEFAULT_BUNDLE,
               images: list[Path] | None = None, report: Callable[[str], None] = print) -> list[Check]:
    """Run every check in ``work`` (gpus empty: on the CPU); ``report`` gets each line as it is known."""
    from posenet3d.synth import generate
    images = images if images is not None else sorted(DEFAULT_IMAGES.glob("*.jpg"))
    setup = Setup(list(gpus), cpu_processes, work, work / "world")
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        report(check.line())

    names = [f"{torch.cuda.get_device_name(g)} (cc {'.'.join(map(str, torch.cuda.get_device_capability(g)))})"
             for g in setup.gpus]
    report(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; "
           f"{'GPUs ' + str(setup.gpus) + ': ' + '; '.join(names) if names else 'CPU only (--cpu)'}")
    add(_timed("synthetic world", lambda: (bool(generate(setup.world, num_train=32, num_test=4, seed=0,
                                                         size=160)), "32 train / 4 test images")))
    for task in TASKS:
        add(_timed(f"train {task}", lambda t=task: check_training(setup, t)))
    add(_timed("interrupt and resume", lambda: check_interruptions(setup)))
    add(_timed("estimator vs CPU", lambda: check_estimator(setup, bundle, images)))
    return checks


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from posenet3d.distributed import GpuSpecError, parse_gpus
    p = command_parser(prog, __doc__)
    p.add_argument("--gpu", default=None, help="GPU ids ('0-3', '0,2'); default: every visible GPU")
    p.add_argument("--cpu", action="store_true", help="run the checks on the CPU (gloo, 2 processes)")
    p.add_argument("--work-dir", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, snapshots)")
    p.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help=f"estimator bundle (default: {DEFAULT_BUNDLE})")
    args = p.parse_args(argv)
    try:
        if args.cpu:
            gpus = []
        elif args.gpu is not None:
            gpus = parse_gpus(args.gpu)
        elif torch.cuda.device_count():
            gpus = list(range(torch.cuda.device_count()))
        else:
            raise GpuSpecError("no CUDA device is visible (torch.cuda.device_count() == 0); --cpu runs the same "
                               "checks on the CPU")
    except GpuSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not (args.bundle / "estimator.yaml").is_file():
        print(f"error: --bundle {args.bundle}: no estimator.yaml there", file=sys.stderr)
        return 2
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="posenet3d_gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        checks = run_checks(gpus, work, bundle=args.bundle)
    finally:
        if args.keep or args.work_dir:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
