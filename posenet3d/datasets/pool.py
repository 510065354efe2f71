"""A pre-rendered sample pool: every person of a training set re-cropped once into a small image.

Reading and warping a full 512²–1920² image per sample dominates the data pipeline's cost on a CPU. The pool
cuts, once, a square region around each person's processed box (``margin`` × the box side, enough for the
scale and rotation augmentation) and resamples it to ``size`` px. It writes the result as a dataset in the
MuCo-3DHP layout (``<dst>/data/MuCo-3DHP.json`` + ``<dst>/data/images/*.jpg``), one annotated person per
image, so the ordinary MuCo adapter, codec and augmentation read it unchanged.

Geometry is kept exact: 2D joints and the box are mapped through the crop's similarity transform; the focal
length is scaled by the same factor and the principal point moved with it, so projections, root-relative
depths and RootNet's k (which depends on box side / focal) are unchanged. Other people inside the crop stay in
the pixels (as occluders) but are not annotated.

Command line: ``posenet3d pool --src data/Synthetic/train --dst data/Synthetic/train_pool --size 208``
(:mod:`posenet3d.commands.pool`; ``python -m posenet3d.datasets.pool`` runs the same).
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from posenet3d.crop import crop_affine
from posenet3d.fileio import write_json_atomic

from .base import DatasetError, PersonRecord
from .registry import build_dataset
from .torch_dataset import read_image_bgr

log = logging.getLogger("posenet3d")


def _pool_entry(rec: PersonRecord, size: int, margin: float) -> tuple[np.ndarray, dict, dict]:
    """(affine image→pool px, image entry fields, annotation fields) of one person."""
    b = np.asarray(rec.bbox, dtype=np.float64)
    side = max(b[2], b[3]) * margin
    center = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0)
    m = crop_affine(center, (side, side), (size, size))
    s = size / side
    f = np.asarray(rec.focal, dtype=np.float64) * s
    c = np.asarray(rec.princpt, dtype=np.float64) * s + m[:, 2]
    joints = np.asarray(rec.joints_img, dtype=np.float64)
    uv = joints[:, :2] * s + m[:, 2]
    # the crop box mapped into the pool image, marked as a crop box already, so the adapter uses it as it is
    pb = [b[0] * s + m[0, 2], b[1] * s + m[1, 2], b[2] * s, b[3] * s]
    img = {"width": size, "height": size, "f": f.tolist(), "c": c.tolist()}
    ann = {"keypoints_cam": np.asarray(rec.joints_cam, dtype=np.float64).tolist(),
           "keypoints_img": uv.tolist(), "keypoints_vis": np.asarray(rec.joints_vis).astype(bool).tolist(),
           "bbox": pb, "bbox_processed": True}
    return m, img, ann


def build_pool(src: str | Path, dst: str | Path, size: int = 208, margin: float = 1.6, quality: int = 95,
               dataset: str = "MuCo") -> int:
    """Write the pool of ``dataset`` at ``src`` into ``dst`` (MuCo-3DHP layout); returns the number of people.

    Unreadable source images are logged and skipped. The JSON is written last and atomically, so an
    interrupted build never leaves a pool that looks complete.
    """
    records = build_dataset(dataset, "train", root=src).records
    dst = Path(dst)
    img_dir = dst / "data" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    cache: tuple[str, np.ndarray] | None = None
    for i, rec in enumerate(records):
        if rec.joints_cam is None:
            raise DatasetError(f"{src}: record {i} (image {rec.img_path}) has no 3D joints; the pool needs a 3D set")
        if cache is None or cache[0] != rec.img_path:
            try:
                cache = (rec.img_path, read_image_bgr(rec.img_path))
            except DatasetError as exc:
                log.warning("pool: skipping %s: %s", rec.img_path, exc)
                cache = (rec.img_path, None)
        if cache[1] is None:
            continue
        m, img_fields, ann_fields = _pool_entry(rec, size, margin)
        patch = cv2.warpAffine(cache[1], m, (size, size), flags=cv2.INTER_AREA if size < rec.bbox[2] else
                               cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        name = f"images/{len(images):07d}.jpg"
        if not cv2.imwrite(str(dst / "data" / name), patch, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"pool: could not write {dst / 'data' / name}")
        images.append({"id": len(images), "file_name": name, **img_fields})
        anns.append({"id": len(anns), "image_id": len(images) - 1, "category_id": 1, "iscrowd": 0, **ann_fields})
    write_json_atomic(dst / "data" / "MuCo-3DHP.json",
                      {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]})
    return len(anns)


if __name__ == "__main__":
    from posenet3d.commands.pool import main

    raise SystemExit(main(prog="python -m posenet3d.datasets.pool"))
