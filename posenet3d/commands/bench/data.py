"""Benchmark the PoseNet training-sample pipeline against the rate a PoseNet training step consumes samples.

Measures, on this machine:
  1. the per-sample cost in one process: image read+decode, and the codec (augment, crop, targets);
  2. samples/s through a DataLoader (PoseDataset, training augmentation, batch 8) with 0, 1 and 2 workers;
  3. samples/s of a PoseNet training step (forward + backward + Adam, batch 8, 256², ResNet-50 by default);
and prints the ratio data rate / training rate (> 1: the loader keeps up).

Data, first match wins:
  --data FOLDER         a dataset in the MuCo-3DHP layout (data/MuCo, or the synthetic world's data/Synthetic/train)
  data/Synthetic/train  (of this checkout) if the synthetic world has been generated there
                        (posenet3d synth)
  otherwise, or --fixture: a small MuCo-layout fixture of random images is written to a temporary folder
                        (--fixture-images, --fixture-size) and read back through the MuCo adapter.

Examples:
  posenet3d bench data
  posenet3d bench data --data data/MuCo --workers 0 4 8 --device cuda
  posenet3d bench data --no-train --json output/log/bench_data.json
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from posenet3d.commands import REPO, command_parser
from posenet3d.datasets.augment import sample_aug
from posenet3d.datasets.base import DatasetError
from posenet3d.datasets.muco import MuCo
from posenet3d.datasets.topdown import TopDownCodec
from posenet3d.datasets.torch_dataset import PoseDataset, read_image_bgr
from posenet3d.fileio import write_json_atomic
from posenet3d.geometry import bbox_from_joints, cam2pixel
from posenet3d.posenet.model import build_posenet, posenet_loss
from posenet3d.skeletons import MUCO

SYNTHETIC_DEFAULT = REPO / "data" / "Synthetic" / "train"


def write_muco_fixture(root: Path, n_images: int, width: int, height: int, seed: int = 0) -> Path:
    """Write ``n_images`` random images with one or two 21-joint people each in the MuCo-3DHP layout under
    ``root`` (``data/MuCo-3DHP.json`` + ``data/augmented_set/*.jpg``); returns ``root``."""
    rng = np.random.default_rng(seed)
    img_dir = root / "data" / "augmented_set"
    img_dir.mkdir(parents=True, exist_ok=True)
    f = np.array([1.2 * width, 1.2 * width])
    c = np.array([width / 2.0, height / 2.0])
    images, anns = [], []
    for i in range(n_images):
        # a smooth background with some texture, so the JPEG decodes like a photograph rather than pure noise
        low = rng.integers(0, 256, size=(max(2, height // 32), max(2, width // 32), 3), dtype=np.uint8)
        img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
        img = cv2.add(img, rng.integers(0, 24, size=img.shape, dtype=np.uint8))
        for _ in range(int(rng.integers(1, 3))):
            root_cam = np.array([rng.uniform(-1200, 1200), rng.uniform(-200, 200), rng.uniform(3000, 6000)])
            joints_cam = root_cam + rng.uniform(-450, 450, size=(MUCO.joint_num, 3)) * [1.0, 2.0, 0.5]
            joints_cam[MUCO.root_idx] = root_cam
            uvz = cam2pixel(joints_cam, f, c)
            for u, v in uvz[:, :2]:
                cv2.circle(img, (int(u), int(v)), max(2, width // 150), (255, 255, 255), -1)
            anns.append({"id": len(anns), "image_id": i, "keypoints_cam": joints_cam.tolist(),
                         "keypoints_img": uvz[:, :2].tolist(), "keypoints_vis": [1] * MUCO.joint_num,
                         "bbox": bbox_from_joints(uvz[:, :2]).tolist()})
        name = f"augmented_set/img_{i:06d}.jpg"
        cv2.imwrite(str(root / "data" / name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        images.append({"id": i, "file_name": name, "width": width, "height": height, "f": f.tolist(),
                       "c": c.tolist()})
    write_json_atomic(root / "data" / "MuCo-3DHP.json", {"images": images, "annotations": anns})
    return root


def per_sample_costs(dataset: PoseDataset, n: int) -> dict[str, float]:
    """Mean ms per sample of image reading+decoding and of the codec, in this process."""
    t_read = t_codec = 0.0
    rng = np.random.default_rng(0)
    for k in range(n):
        rec = dataset.records[k % len(dataset)]
        t0 = time.perf_counter()
        img = read_image_bgr(rec.img_path)
        t1 = time.perf_counter()
        aug = sample_aug(rng, rec.bbox, img.shape[1], img.shape[0], dataset.aug_cfg)
        dataset.codec.encode_pose_record(img, rec, dataset.joint_set_out, aug)
        t2 = time.perf_counter()
        t_read += t1 - t0
        t_codec += t2 - t1
    return {"read_ms": 1e3 * t_read / n, "codec_ms": 1e3 * t_codec / n}


def loader_rate(dataset: PoseDataset, workers: int, batch: int, n_batches: int) -> float:
    """Samples/s through a shuffling DataLoader, after the first batch (worker start-up excluded)."""
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    got = 0
    for _ in range(n_batches):
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        got += b["img"].shape[0]
    return got / (time.perf_counter() - t0)


def train_rate(depth: int, batch: int, size: int, steps: int, device: torch.device) -> float:
    """Samples/s of PoseNet training steps (forward + backward + Adam) on random inputs and targets."""
    torch.manual_seed(0)
    net = build_posenet(depth=depth, joint_num=MUCO.joint_num).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    img = torch.randn(batch, 3, size, size, device=device)
    target = torch.rand(batch, MUCO.joint_num, 3, device=device) * (size // 4)
    vis = torch.ones(batch, MUCO.joint_num, device=device)
    has_depth = torch.ones(batch, device=device)

    def step() -> None:
        loss = posenet_loss(net(img), target, vis, has_depth).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, cuDNN choice)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch / (time.perf_counter() - t0)


def _data_root(args, tmp: Path) -> tuple[Path, str]:
    """(dataset root, where it came from): ``--data``, else the synthetic world, else a generated fixture."""
    if args.data is not None:
        return args.data, f"--data {args.data}"
    if not args.fixture and (SYNTHETIC_DEFAULT / "data" / "MuCo-3DHP.json").is_file():
        return SYNTHETIC_DEFAULT, f"synthetic world at {SYNTHETIC_DEFAULT}"
    w, h = args.fixture_size
    root = write_muco_fixture(tmp, args.fixture_images, w, h)
    source = f"generated fixture: {args.fixture_images} random {w}x{h} JPEGs"
    if not args.fixture:
        source += f" (no --data and no {SYNTHETIC_DEFAULT}; generate the synthetic world with `posenet3d synth`)"
    return root, source


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog, __doc__)
    p.add_argument("--data", type=Path, default=None, help="dataset folder in the MuCo-3DHP layout")
    p.add_argument("--fixture", action="store_true", help="use a generated fixture even if the synthetic "
                   "world exists")
    p.add_argument("--fixture-images", type=int, default=16, help="images of the generated fixture")
    p.add_argument("--fixture-size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"),
                   help="image size of the generated fixture (px)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader worker counts")
    p.add_argument("--batch", type=int, default=8, help="batch size (data and training step)")
    p.add_argument("--batches", type=int, default=12, help="timed batches per worker count")
    p.add_argument("--input-size", type=int, default=256, help="crop side (px)")
    p.add_argument("--depth", type=int, default=50, help="PoseNet backbone ResNet depth")
    p.add_argument("--train-steps", type=int, default=2, help="timed training steps (after one warm-up)")
    p.add_argument("--no-train", action="store_true", help="skip the training-step measurement")
    p.add_argument("--device", default="cpu", help="device of the training step (cpu, cuda, cuda:1, ...)")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        root, source = _data_root(args, Path(tmp))
        try:
            records = MuCo(root).records
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not records:
            print(f"error: {root} holds no usable person records", file=sys.stderr)
            return 2
        if len(records) < args.batch:
            print(f"error: {root} holds {len(records)} people, fewer than one batch of {args.batch} (--batch)",
                  file=sys.stderr)
            return 2
        codec = TopDownCodec(input_shape=(args.input_size, args.input_size))
        dataset = PoseDataset(records, MUCO, codec, train=True)
        sizes = sorted({tuple(r.img_size) for r in records})
        print(f"data: {source}; {len(records)} people, image sizes {sizes[:3]}{' ...' if len(sizes) > 3 else ''}")
        print(f"machine: {os.cpu_count()} CPUs visible, torch {torch.__version__} with {torch.get_num_threads()} "
              f"threads, OpenCV {cv2.__version__}")

        # The data side runs with one torch thread, as DataLoader workers do: torch's intra-op threads only slow
        # the small per-sample tensor ops down (badly so on a busy machine).
        train_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            costs = per_sample_costs(dataset, min(64, max(16, len(dataset))))
            print(f"per sample in one process (1 torch thread): read+decode {costs['read_ms']:.2f} ms, codec "
                  f"(augment, crop, targets, normalise) {costs['codec_ms']:.2f} ms")
            results: dict = {"source": source, "records": len(records), **costs, "loader_samples_per_s": {}}
            for w in args.workers:
                rate = loader_rate(dataset, w, args.batch, args.batches)
                results["loader_samples_per_s"][str(w)] = rate
                print(f"DataLoader, {w} worker(s), batch {args.batch}: {rate:8.1f} samples/s")
        finally:
            torch.set_num_threads(train_threads)

    if not args.no_train:
        device = torch.device(args.device)
        rate = train_rate(args.depth, args.batch, args.input_size, args.train_steps, device)
        results["train_samples_per_s"] = rate
        results["train_device"] = str(device)
        print(f"PoseNet-R{args.depth} training step (fwd+bwd+Adam, batch {args.batch}, {args.input_size}², "
              f"{device}): {rate:8.2f} samples/s ({args.batch / rate:.2f} s/step)")
        for w, r in results["loader_samples_per_s"].items():
            print(f"ratio data/train with {w} worker(s): {r / rate:8.1f}x")
        results["ratio"] = {w: r / rate for w, r in results["loader_samples_per_s"].items()}

    if args.json is not None:
        write_json_atomic(args.json, results, indent=1)
    return 0
