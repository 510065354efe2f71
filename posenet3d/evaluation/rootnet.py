"""RootNet evaluation (MRPE, AP_root) and the box-and-root JSON file PoseNet reads.

``bbox_root_*_output.json`` (the 3DMPPE format, so released files and ours read alike): a JSON list of
``{"image_id": int, "bbox": [x, y, w, h] px, "root_cam": [X, Y, Z] camera-frame mm, "score": float}``.
The RootNet writer stores the *processed* (square, ×1.25) box; ``score`` is the detector's (the Human3.6M file
has none). Extra fields (``ann_id``, ``joint_cam``, …) are kept as they are.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posenet3d.evaluation.report import to_jsonable, write_json
from posenet3d.metrics import ap_root_ranked, mrpe

_REQUIRED = {"image_id": None, "bbox": 4, "root_cam": 3}


def _check_record(rec: Any, i: int, where: str) -> dict:
    """A validated copy: image_id int, bbox (4,) px, root_cam (3,) mm, score float if given; extras kept."""
    if not isinstance(rec, Mapping):
        # a malformed file or record is a ValueError like every other bad input, whatever is wrong with it
        raise ValueError(f"{where}: record {i} must be a mapping, got {type(rec).__name__}")  # noqa: TRY004
    out = dict(rec)
    for field, size in _REQUIRED.items():
        if field not in rec:
            raise ValueError(f"{where}: record {i} has no field {field!r}")
        if size is None:
            value = rec[field]
            try:
                ok = not isinstance(value, (bool, np.bool_)) and float(value).is_integer()
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{where}: record {i} field 'image_id' must be an integer, got {value!r}")
            out[field] = int(value)
        else:
            try:
                a = np.asarray(rec[field], dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: record {i} field {field!r} is not numeric: {rec[field]!r}") from None
            if a.shape != (size,) or not np.all(np.isfinite(a)):
                raise ValueError(f"{where}: record {i} field {field!r} must be {size} finite numbers, got "
                                 f"{rec[field]!r}")
            out[field] = a
    if "score" in rec and rec["score"] is not None:
        try:
            out["score"] = float(rec["score"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: record {i} field 'score' is not a number: {rec['score']!r}") from None
    return out


def write_bbox_root_json(path: str | Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``[{image_id, bbox, root_cam, score}, ...]`` (plus any extra fields) to ``path`` atomically.

    ``bbox`` [x, y, w, h] in px, ``root_cam`` [X, Y, Z] camera-frame mm, ``score`` optional. Returns the path.
    """
    checked = [_check_record(r, i, str(path)) for i, r in enumerate(records)]
    return write_json(path, [to_jsonable(r) for r in checked])


def read_bbox_root_json(path: str | Path) -> list[dict]:
    """Read a 3DMPPE box-and-root file (ours or the released ``bbox_root_*_output.json``).

    Returns one dict per record: ``image_id`` int, ``bbox`` (4,) px and ``root_cam`` (3,) mm as float arrays,
    ``score`` float when the file has one, extra fields unchanged.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"box-and-root file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")  # noqa: TRY004
    return [_check_record(r, i, str(path)) for i, r in enumerate(data)]


def evaluate_roots(pred_root_cam_mm: np.ndarray | None = None, gt_root_cam_mm: np.ndarray | None = None, *,
                   groups: np.ndarray | None = None, group_names: Sequence[str] | None = None,
                   records: Sequence[Mapping[str, Any]] | None = None,
                   gt_roots_by_image: Mapping[int, np.ndarray] | None = None,
                   ap_threshold_mm: float = 250.0) -> dict:
    """Score RootNet root positions: MRPE for paired roots and/or AP_root for scored detections.

    MRPE (boxes paired with GT people, e.g. Human3.6M): ``pred_root_cam_mm``, ``gt_root_cam_mm`` (N, 3)
    camera-frame mm; optional ``groups`` (N,) int labels (e.g. action index) with ``group_names`` for a
    per-group breakdown.

    AP_root (detected boxes, e.g. MuPoTS-3D): ``records`` as :func:`read_bbox_root_json` returns them (each
    with ``score``; order decides score ties, as in RootNet) and ``gt_roots_by_image``: image_id → valid GT
    roots (G, 3) mm (MuPoTS: ``keypoints_cam[14]`` of the ``is_valid`` people), listing every test image so
    recall counts every valid person. Records of images without valid GT are skipped as RootNet does.
    See :func:`posenet3d.metrics.ap_root` for the exact procedure.

    Returns ``{'mrpe': {mrpe, x, y, z}, 'num_roots', 'per_group': {name: {mrpe, x, y, z, count}}}`` and/or
    ``{'ap_root': {threshold_mm, ap (percent), num_gt, num_tp, num_fp, num_predictions, num_skipped}}``, mm.
    """
    if (pred_root_cam_mm is None) != (gt_root_cam_mm is None):
        raise ValueError("evaluate_roots: give both pred_root_cam_mm and gt_root_cam_mm, or neither")
    if (records is None) != (gt_roots_by_image is None):
        raise ValueError("evaluate_roots: give both records and gt_roots_by_image, or neither")
    if pred_root_cam_mm is None and records is None:
        raise ValueError("evaluate_roots: nothing to evaluate (no paired roots and no detection records)")
    result: dict[str, Any] = {}
    if pred_root_cam_mm is not None:
        result.update(_paired_root_errors(pred_root_cam_mm, gt_root_cam_mm, groups, group_names))
    if records is not None:
        result["ap_root"] = _detection_ap_root(records, gt_roots_by_image, ap_threshold_mm)
    return result


def _paired_root_errors(pred_root_cam_mm: np.ndarray, gt_root_cam_mm: np.ndarray, groups: np.ndarray | None,
                        group_names: Sequence[str] | None) -> dict[str, Any]:
    """``{'mrpe', 'num_roots'}`` of (N, 3) camera-frame mm roots paired with their GT, plus ``per_group``
    (MRPE and count per label of ``groups``, named by ``group_names`` when given) when ``groups`` is given."""
    pred = np.asarray(pred_root_cam_mm, dtype=np.float64)
    gt = np.asarray(gt_root_cam_mm, dtype=np.float64)
    result: dict[str, Any] = {"mrpe": mrpe(pred, gt), "num_roots": int(pred.shape[0])}
    if groups is None:
        return result
    g = np.asarray(groups).reshape(-1)
    if g.shape[0] != pred.shape[0]:
        raise ValueError(f"evaluate_roots: groups has {g.shape[0]} labels for {pred.shape[0]} roots")
    per_group = {}
    for label in np.unique(g):
        sel = g == label
        per_group[_group_name(label, group_names)] = {**mrpe(pred[sel], gt[sel]), "count": int(sel.sum())}
    result["per_group"] = per_group
    return result


def _group_name(label: Any, group_names: Sequence[str] | None) -> str:
    """The name of group ``label``: ``group_names[label]`` when names are given, else the label as text."""
    if group_names is None:
        return str(label)
    if not 0 <= int(label) < len(group_names):
        raise ValueError(f"evaluate_roots: group label {label} has no name in group_names")
    return group_names[int(label)]


def _detection_ap_root(records: Sequence[Mapping[str, Any]], gt_roots_by_image: Mapping[int, np.ndarray],
                       ap_threshold_mm: float) -> dict[str, Any]:
    """AP_root (percent) and its counts of scored detections (``root_cam`` camera-frame mm) against the valid GT
    roots (G, 3) mm of each image, the records' order deciding score ties (see :func:`evaluate_roots`)."""
    checked = [_check_record(r, i, "evaluate_roots records") for i, r in enumerate(records)]
    for i, r in enumerate(checked):
        if "score" not in r:
            raise ValueError(f"evaluate_roots: record {i} (image {r['image_id']}) has no 'score'; AP_root "
                             f"needs detection scores")
    image_ids = [int(k) for k in gt_roots_by_image]
    index = {img: n for n, img in enumerate(image_ids)}
    gts = [np.asarray(gt_roots_by_image[k], dtype=np.float64).reshape(-1, 3) for k in gt_roots_by_image]
    # records of images unknown to the GT join one extra image without GT, so they are skipped
    gts.append(np.zeros((0, 3)))
    img_idx = np.array([index.get(r["image_id"], len(image_ids)) for r in checked], dtype=np.int64)
    roots = np.array([r["root_cam"] for r in checked]).reshape(-1, 3)
    scores = np.array([r["score"] for r in checked], dtype=np.float64)
    ap = ap_root_ranked(roots, scores, img_idx, gts, ap_threshold_mm)
    return {"threshold_mm": float(ap_threshold_mm), "ap": ap["ap"], "num_gt": ap["num_gt"],
            "num_tp": ap["num_tp"], "num_fp": ap["num_fp"], "num_predictions": len(checked),
            "num_skipped": ap["num_skipped"]}
