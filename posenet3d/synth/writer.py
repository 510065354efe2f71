"""Write the synthetic world to disk in the published layouts: MuCo-3DHP (train), MuPoTS-3D (test) and COCO
person keypoints (both splits, for the detector).

Layout under ``out_dir``::

    meta.json                                     seed, counts, image size, generator version
    train/data/MuCo-3DHP.json                     file_name relative to train/data ("images/000000.jpg")
    train/data/images/{index:06d}.jpg
    train/coco_person_keypoints.json              file_name relative to train/data
    test/data/MuPoTS-3D.json                      file_name relative to test/data/MultiPersonTestSet ("TS1/img_000000.jpg")
    test/data/MultiPersonTestSet/TS{n}/img_{frame:06d}.jpg
    test/coco_person_keypoints.json               file_name relative to test/data ("MultiPersonTestSet/TS1/...")

Determinism: image ``index`` of a split draws everything from ``numpy.random.default_rng([seed, split_code,
index])`` (train 0, test 1); a test sequence's camera and background come from ``default_rng([seed, 2, n])``.
The same seed and arguments therefore give byte-identical files whatever the number of workers.
Image ids are ``index + 1``; annotation ids count from 1 in image order, per split, and are shared by the
split's MuCo/MuPoTS file and its COCO file.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..skeletons import MUPOTS
from .background import render_background
from .scene import (
    COCO_KEYPOINT_NAMES,
    COCO_SKELETON,
    ScenePerson,
    render_scene,
    sample_camera,
)

GENERATOR_VERSION = "1.0"
SPLIT_CODES = {"train": 0, "test": 1}
_SEQUENCE_CODE = 2
#: Most test sequences ("TS1".."TS20", as MuPoTS-3D).
MAX_SEQUENCES = 20
JPEG_QUALITY = 90
TRAIN_JSON = "MuCo-3DHP.json"
TEST_JSON = "MuPoTS-3D.json"
COCO_JSON = "coco_person_keypoints.json"
TEST_IMAGE_DIR = "MultiPersonTestSet"


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of image ``index`` (0-based) of ``split`` ('train' or 'test')."""
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])


def sequence_rng(seed: int, sequence: int) -> np.random.Generator:
    """The random generator of test sequence ``sequence`` (1-based): its camera, then its background."""
    return np.random.default_rng([int(seed), _SEQUENCE_CODE, int(sequence)])


def test_sequence(index: int, num_test: int) -> tuple[int, int]:
    """``(sequence 1..k, frame 0..)`` of test image ``index``: k = min(20, num_test) contiguous, balanced runs."""
    if not 0 <= index < num_test:
        raise ValueError(f"test image index {index} is outside 0..{num_test - 1}")
    k = min(MAX_SEQUENCES, num_test)
    s = index * k // num_test
    first = (s * num_test + k - 1) // k
    return s + 1, index - first


def write_json_atomic(path: Path, obj) -> None:
    """Write compact JSON to ``path`` through a temporary file and ``os.replace``.

    Encoded in one piece with :func:`json.dumps` (C encoder; ``json.dump`` to a file uses the slow pure-Python
    one), the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, separators=(",", ":")))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_jpeg_atomic(path: Path, image_bgr: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    """Encode ``image_bgr`` as JPEG and write it through a temporary file and ``os.replace``."""
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"could not encode {path} as JPEG")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _r(a, nd: int) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def _person_records(p: ScenePerson, joint_num: int) -> tuple[dict, dict]:
    """(MuCo/MuPoTS annotation, COCO annotation) of one person, without ids."""
    bbox = _r(p.bbox, 2)
    ann = {"category_id": 1, "iscrowd": 0,
           "keypoints_cam": _r(p.joints_cam[:joint_num], 4),
           "keypoints_img": _r(p.joints_img[:joint_num], 4),
           "keypoints_vis": [bool(v) for v in p.joints_vis[:joint_num]],
           "bbox": bbox, "area": float(p.area)}
    kp = p.coco_keypoints
    flat = []
    for x, y, v in kp:
        flat += [round(float(x), 2), round(float(y), 2), int(v)]
    coco = {"category_id": 1, "iscrowd": 0, "keypoints": flat, "num_keypoints": int((kp[:, 2] > 0).sum()),
            "bbox": bbox, "area": float(p.area)}
    return ann, coco


def render_item(seed: int, split: str, index: int, size: int, num_test: int = 0):
    """Render image ``index`` of ``split`` → ``(image_bgr, camera, people, file_name)``.

    ``file_name`` is relative to the split's data folder for the COCO file ("images/000000.jpg" or
    "MultiPersonTestSet/TS1/img_000000.jpg"). Test images need ``num_test`` to know their sequence.
    """
    if split == "train":
        rng = image_rng(seed, split, index)
        camera = sample_camera(rng, size)
        image, people = render_scene(rng, camera)
        return image, camera, people, f"images/{index:06d}.jpg"
    if split != "test":
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    seq, frame = test_sequence(index, num_test)
    srng = sequence_rng(seed, seq)
    camera = sample_camera(srng, size)
    background = render_background(srng, camera)
    image, people = render_scene(image_rng(seed, split, index), camera, background=background)
    return image, camera, people, f"{TEST_IMAGE_DIR}/TS{seq}/img_{frame:06d}.jpg"


def _work(task: tuple) -> dict:
    seed, split, index, size, num_test, data_dir = task
    image, camera, people, rel = render_item(seed, split, index, size, num_test)
    path = Path(data_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jpeg_atomic(path, image)
    fx, fy = camera.focal
    cx, cy = camera.princpt
    img = {"id": index + 1, "width": camera.width, "height": camera.height}
    if split == "train":
        img.update({"file_name": rel, "f": [fx, fy], "c": [cx, cy]})
        joint_num = 21
    else:
        img.update({"file_name": rel[len(TEST_IMAGE_DIR) + 1:], "intrinsic": [fx, fy, cx, cy]})
        joint_num = MUPOTS.joint_num
    coco_img = {"id": index + 1, "file_name": rel, "width": camera.width, "height": camera.height}
    records = [_person_records(p, joint_num) for p in people]
    return {"split": split, "index": index, "image": img, "coco_image": coco_img, "people": records}


def _init_worker() -> None:
    """Worker processes render one image at a time: keep OpenCV single-threaded there (K workers, K cores)."""
    cv2.setNumThreads(1)


def _coco_categories() -> list[dict]:
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINT_NAMES),
             "skeleton": [list(b) for b in COCO_SKELETON]}]


def _assemble(results: list[dict], split: str) -> tuple[dict, dict, int]:
    images, anns, coco_images, coco_anns = [], [], [], []
    ann_id = 0
    for r in sorted(results, key=lambda r: r["index"]):
        images.append(r["image"])
        coco_images.append(r["coco_image"])
        for ann, coco in r["people"]:
            ann_id += 1
            a = {"id": ann_id, "image_id": r["image"]["id"], **ann}
            if split == "test":
                a["is_valid"] = 1
            anns.append(a)
            coco_anns.append({"id": ann_id, "image_id": r["image"]["id"], **coco})
    main = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    coco = {"images": coco_images, "annotations": coco_anns, "categories": _coco_categories()}
    return main, coco, ann_id


def generate(out_dir: str | Path, num_train: int, num_test: int, seed: int, size: int = 512, workers: int = 0,
             progress: bool = False) -> dict:
    """Generate the synthetic world into ``out_dir`` (layout in the module docstring) and return a summary.

    Args:
        out_dir: output folder (created; existing files of the same names are replaced atomically, other files
            are left alone).
        num_train, num_test: number of train / test images (≥ 0).
        seed: non-negative integer; the output depends only on (seed, counts, size).
        size: nominal image side in px (actual sizes vary around it, see :func:`sample_camera`).
        workers: 0 renders in this process, K ≥ 1 uses K worker processes (same output).
        progress: show a progress bar on stderr.

    Returns a dict: ``out_dir``, ``seed``, ``size``, ``generator_version``, per split ``images``/``people``,
    ``test.sequences``, ``seconds`` and ``images_per_second``.
    """
    _check_generate_args(num_train, num_test, seed, size, workers)
    out = Path(out_dir)
    dirs = {"train": out / "train" / "data", "test": out / "test" / "data"}
    (dirs["train"] / "images").mkdir(parents=True, exist_ok=True)
    (dirs["test"] / TEST_IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    tasks = [(int(seed), "train", i, int(size), int(num_test), str(dirs["train"])) for i in range(num_train)]
    tasks += [(int(seed), "test", i, int(size), int(num_test), str(dirs["test"])) for i in range(num_test)]

    start = time.perf_counter()
    results = _render_all(tasks, workers, progress)
    seconds = time.perf_counter() - start

    counts = _write_annotations(out, dirs, results)
    counts["test"]["sequences"] = min(MAX_SEQUENCES, int(num_test))
    meta = {"generator": "posenet3d.synth", "generator_version": GENERATOR_VERSION, "seed": int(seed),
            "size": int(size), "num_train": int(num_train), "num_test": int(num_test), "train": counts["train"],
            "test": counts["test"], "joint_set": {"train": "MuCo", "test": "MuPoTS", "detector": "COCO"}}
    write_json_atomic(out / "meta.json", meta)
    total = len(tasks)
    return {"out_dir": str(out), "seed": int(seed), "size": int(size), "generator_version": GENERATOR_VERSION,
            "train": counts["train"], "test": counts["test"], "seconds": round(seconds, 3),
            "images_per_second": round(total / seconds, 2) if seconds > 0 and total else 0.0}


def _check_generate_args(num_train: int, num_test: int, seed: int, size: int, workers: int) -> None:
    """Refuse counts, seeds and worker numbers that are not non-negative integers, and image sides under 32 px."""
    for name, value in (("num_train", num_train), ("num_test", num_test), ("seed", seed), ("workers", workers)):
        if int(value) != value or value < 0:
            raise ValueError(f"generate: {name} must be a non-negative integer, got {value!r}")
    if int(size) != size or size < 32:
        raise ValueError(f"generate: size must be an integer >= 32, got {size!r}")


def _render_all(tasks: list[tuple], workers: int, progress: bool) -> list[dict]:
    """Render and write every image of ``tasks`` (see :func:`_work`): here, or in ``workers`` processes. The
    results come back in any order; each image depends only on its own task, so the files are the same."""
    results: list[dict] = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), desc="synth", unit="img")
    if workers and tasks:
        # Fresh ("spawn") processes: safe whatever threads the caller runs; a worker that cannot start raises
        # BrokenProcessPool here instead of hanging.
        chunk = max(1, min(32, len(tasks) // (workers * 8)))
        with ProcessPoolExecutor(int(workers), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            for r in pool.map(_work, tasks, chunksize=chunk):
                results.append(r)
                if bar is not None:
                    bar.update(1)
    else:
        for t in tasks:
            results.append(_work(t))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results


def _write_annotations(out: Path, dirs: dict[str, Path], results: list[dict]) -> dict[str, dict]:
    """Write each split's MuCo-3DHP / MuPoTS-3D file and its COCO file; returns per split ``images`` and
    ``people`` counts."""
    counts = {}
    for split, main_name in (("train", TRAIN_JSON), ("test", TEST_JSON)):
        main, coco, people = _assemble([r for r in results if r["split"] == split], split)
        write_json_atomic(dirs[split] / main_name, main)
        write_json_atomic(out / split / COCO_JSON, coco)
        counts[split] = {"images": len(main["images"]), "people": people}
    return counts
