"""Person-detection evaluation (COCO box AP through pycocotools) and the detection file RootNet testing reads.

The detection file (3DMPPE ``bbox_*_output.json``, COCO results format) is a JSON list of
``{"image_id": int, "category_id": 1, "bbox": [x, y, w, h], "score": float}``: boxes in image px, **not
extended** (the detector's own box; RootNet processes it to a square ×1.25 box itself). It is written atomically.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posenet3d.evaluation.report import write_json

PERSON_CATEGORY_ID = 1
STAT_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def detection_records(results: Mapping[int, Any], category_id: int = PERSON_CATEGORY_ID) -> list[dict]:
    """``{image_id: detections}`` → COCO result records. ``detections`` has ``boxes_xyxy (N, 4)`` px and
    ``scores (N,)`` (e.g. :class:`posenet3d.detection.pipeline.PersonDetections`) or is a ``(boxes, scores)`` pair;
    an image with no detection contributes no record."""
    records = []
    for image_id, det in results.items():
        boxes, scores = (det.boxes_xyxy, det.scores) if hasattr(det, "boxes_xyxy") else det
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"image {image_id}: {len(boxes)} boxes but {len(scores)} scores")
        for (x1, y1, x2, y2), s in zip(boxes, scores):
            records.append({"image_id": int(image_id), "category_id": int(category_id),
                            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "score": float(s)})
    return records


def _check_records(records: Iterable[Mapping[str, Any]], where: str) -> list[dict]:
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise ValueError(f"{where}: record {i} must be a mapping, got {type(r).__name__}")
        for key in ("image_id", "bbox", "score"):
            if key not in r:
                raise ValueError(f"{where}: record {i} has no field {key!r}")
        bbox = np.asarray(r["bbox"], dtype=np.float64).reshape(-1)
        if bbox.shape != (4,) or not np.all(np.isfinite(bbox)) or bbox[2] < 0 or bbox[3] < 0:
            raise ValueError(f"{where}: record {i} bbox must be 4 finite numbers [x, y, w>=0, h>=0], "
                             f"got {r['bbox']!r}")
        score = float(r["score"])
        if not np.isfinite(score):
            raise ValueError(f"{where}: record {i} score must be finite, got {r['score']!r}")
        out.append({"image_id": int(r["image_id"]), "category_id": int(r.get("category_id", PERSON_CATEGORY_ID)),
                    "bbox": bbox.tolist(), "score": score})
    return out


def write_detection_json(path: str | Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Validate and write detection records (see :func:`detection_records`) to ``path`` atomically."""
    return write_json(path, _check_records(records, str(path)))


def read_detection_json(path: str | Path) -> list[dict]:
    """Read a detection file (ours or the released ``bbox_*_output.json``); errors name the file and record."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read detection json ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of detections, got {type(data).__name__}")
    return _check_records(data, str(path))


def _load_gt(gt: str | Path | Mapping) -> tuple[COCO, str]:
    where = str(gt) if not isinstance(gt, Mapping) else "<ground-truth dict>"
    if isinstance(gt, Mapping):
        data = copy.deepcopy(dict(gt))
    else:
        try:
            data = json.loads(Path(gt).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: cannot read COCO ground truth ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise ValueError(f"{where}: a COCO ground truth needs 'images' and 'annotations'")
    data.setdefault("categories", [{"id": PERSON_CATEGORY_ID, "name": "person"}])
    for i, a in enumerate(data["annotations"]):
        if "bbox" not in a or "image_id" not in a:
            raise ValueError(f"{where}: annotations[{i}] needs 'bbox' and 'image_id'")
        a.setdefault("id", i + 1)
        a.setdefault("iscrowd", 0)
        a.setdefault("category_id", PERSON_CATEGORY_ID)
        a.setdefault("area", float(a["bbox"][2]) * float(a["bbox"][3]))
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, where


def evaluate_person_ap(gt: str | Path | Mapping, detections: str | Path | Iterable[Mapping[str, Any]],
                       category_id: int = PERSON_CATEGORY_ID, verbose: bool = False,
                       image_ids: Iterable[int] | None = None) -> dict[str, float]:
    """COCO box AP of one category (person) by pycocotools' ``COCOeval`` (IoU 0.50:0.95, max 100 dets/image).

    ``gt``: a COCO json path or dict (``area``/``iscrowd`` filled from the box / 0 where missing); crowd
    annotations are "ignore" regions as in COCO. ``detections``: records or a detection file. Returns
    ``{AP, AP50, AP75, AP_small, AP_medium, AP_large, AR1, AR10, AR100, AR_small, AR_medium, AR_large}`` as
    fractions (−1 where COCO has nothing to measure). No detections at all → AP 0 (not an error).
    ``verbose`` prints COCO's summary table. ``image_ids``: score only these images (a part of the test set).
    """
    coco_gt, where = _load_gt(gt)
    if isinstance(detections, (str, Path)):
        dets = read_detection_json(detections)
    else:
        dets = _check_records(detections, "detections")
    dets = [d for d in dets if d["category_id"] == category_id]
    unknown = sorted({d["image_id"] for d in dets} - set(coco_gt.getImgIds()))
    if unknown:
        raise ValueError(f"detections name image ids not in {where}: {unknown[:10]}"
                         + (f" … ({len(unknown)} in all)" if len(unknown) > 10 else ""))
    res = COCO()
    res.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                   "annotations": [dict(d, id=i + 1, area=d["bbox"][2] * d["bbox"][3], iscrowd=0)
                                   for i, d in enumerate(dets)]}
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        res.createIndex()
        ev = COCOeval(coco_gt, res, iouType="bbox")
        ev.params.catIds = [category_id]
        if image_ids is not None:
            ev.params.imgIds = sorted({int(i) for i in image_ids})
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}
