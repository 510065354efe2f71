"""MuPoTS-3D evaluation: the official multi-person 3DPCK procedure in Python, and the .mat files for MATLAB.

Images are keyed by ``(seq, frame)``: ``seq`` 1..20 as in the folder ``TS{seq}``, ``frame`` 0-based as in
``img_{frame:06d}.jpg``. Joints are in the 17-joint MPI order (:data:`posenet3d.skeletons.MUPOTS`; root =
Pelvis, index 14). 2D joints are image px; 3D joints are camera-frame mm.

:func:`evaluate_mupots` follows the official ``mpii_mupots_multiperson_eval(eval_mode, is_relative)``
(the MATLAB evaluation distributed with the MuPoTS-3D data set), for both values of each switch at once:

1. per image, only valid GT people count (``valid``); images without one are skipped;
2. predictions are matched to GT in 2D (:func:`posenet3d.metrics.match_poses_2d`: joints 2..14 1-based,
   max(|dx|, |dy|) < 40 px, greedy over GT);
3. a matched prediction is, for the *relative* score, centred on its pelvis with the GT centred on its own
   (3DPCK_rel); for the *absolute* score it is left in the camera frame (3DPCK_abs); then (option
   ``rescale_bones``, on by default as the official code) its bones are rescaled to the GT's lengths
   (:func:`posenet3d.metrics.rescale_to_gt_bone_lengths`);
4. per-joint 3D errors over the 14 joints head-top, neck, shoulders, elbows, wrists, hips, knees, ankles;
   a joint is correct if its error is < 150 mm (strict); AUC over 0:5:150 mm;
5. "matched" scores only matched GT people; "all" gives every unmatched GT person an error of 1e5 mm on
   every joint (official), so per sequence PCK_all = PCK_matched × matched / annotated;
6. per-sequence values, their mean over sequences (what papers report) and the joint-pooled value over all
   sequences (the MATLAB "Total" column) are all returned.

The official code uses the height-normalised ``univ_annot3`` as 3D GT: pass those joints as
``joints_3d_cam_mm`` to reproduce it (the 3DMPPE JSON's ``keypoints_cam`` may differ).
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.io

from posenet3d.evaluation.base import TestSetEvaluator
from posenet3d.fileio import atomic_path
from posenet3d.metrics import (
    AUC_THRESHOLDS_MM,
    MUPOTS_MATCHING_JOINTS,
    auc3d,
    match_poses_2d,
    pck3d,
    rescale_to_gt_bone_lengths,
)
from posenet3d.skeletons import MUPOTS, JointSet

#: The 14 3DPCK joints (indices into the MuPoTS order): head-top, neck, shoulders, elbows, wrists, hips, knees,
#: ankles — the official ``mpii_get_pck_auc_joint_groups`` joints 1..14 (1-based).
MUPOTS_PCK_JOINTS = tuple(range(14))
NUM_JOINTS = 17
ROOT_IDX = MUPOTS.root_idx
#: Error the official code gives every joint of an unmatched GT person ("all annotations" mode), mm.
UNMATCHED_ERROR_MM = 1e5
#: The two ways a matched pose is scored: centred on its pelvis (3DPCK_rel) or in the camera frame (3DPCK_abs).
_MODES = ("rel", "abs")
#: Score names of every group of people: 3DPCK and AUC (percent), per mode, all annotated or matched only.
SCORE_KEYS = tuple(f"{k}_{m}_{g}" for k in ("pck", "auc") for m in _MODES for g in ("all", "matched"))

MAT_2D = "preds_2d_kpt_mupots.mat"
MAT_3D = "preds_3d_kpt_mupots.mat"
_KEY_RE = re.compile(r"TS(\d+)_img_(\d{6})")

ImageKey = tuple[int, int]


def mat_key(seq: int, frame: int) -> str:
    """The official .mat variable name of an image: ``TS{seq}_img_{frame:06d}`` (seq 1-based, frame 0-based)."""
    if int(seq) < 1 or int(frame) < 0:
        raise ValueError(f"MuPoTS image key needs seq >= 1 and frame >= 0, got ({seq}, {frame})")
    return f"TS{int(seq)}_img_{int(frame):06d}"


def _pred_arrays(key, value, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        pred_2d, pred_3d = value
    except (TypeError, ValueError):
        raise ValueError(f"{where}: predictions of image {key} must be a pair (pred_2d, pred_3d)") from None
    p2 = np.asarray(pred_2d, dtype=np.float64)
    p3 = np.asarray(pred_3d, dtype=np.float64)
    if p2.size == 0:
        p2 = p2.reshape(0, NUM_JOINTS, 2)
    if p3.size == 0:
        p3 = p3.reshape(0, NUM_JOINTS, 3)
    if p2.shape[1:] != (NUM_JOINTS, 2) or p3.shape[1:] != (NUM_JOINTS, 3) or p2.shape[0] != p3.shape[0]:
        raise ValueError(f"{where}: image {key} needs pred_2d (P, 17, 2) px and pred_3d (P, 17, 3) mm, got "
                         f"{p2.shape} and {p3.shape}")
    return p2, p3


# --------------------------------------------------------------------------------------------- .mat files
def write_mupots_mat(out_dir: str | Path, preds_by_image: Mapping[ImageKey, tuple[np.ndarray, np.ndarray]],
                     frames: Iterable[ImageKey] | None = None) -> tuple[Path, Path]:
    """Write ``preds_2d_kpt_mupots.mat`` and ``preds_3d_kpt_mupots.mat`` as the official MATLAB script reads them.

    ``preds_by_image``: ``(seq, frame)`` → ``(pred_2d (P, 17, 2) image px, pred_3d (P, 17, 3) absolute
    camera-frame mm)`` in MuPoTS joint order. Each image becomes a variable ``TS{seq}_img_{frame:06d}`` holding
    a (P, 17, 2|3) array. The MATLAB script reads a variable for *every* frame, so pass ``frames`` (all
    ``(seq, frame)`` of the test set) to write empty (0, 17, 2|3) arrays for frames without a detection.
    Both files are written atomically. Returns ``(path_2d, path_3d)``.
    """
    out = Path(out_dir)
    d2: dict[str, np.ndarray] = {}
    d3: dict[str, np.ndarray] = {}
    for key, value in preds_by_image.items():
        seq, frame = key
        p2, p3 = _pred_arrays(key, value, "write_mupots_mat")
        d2[mat_key(seq, frame)] = p2
        d3[mat_key(seq, frame)] = p3
    for seq, frame in frames or ():
        name = mat_key(seq, frame)
        if name not in d2:
            d2[name] = np.zeros((0, NUM_JOINTS, 2))
            d3[name] = np.zeros((0, NUM_JOINTS, 3))
    if not d2:
        raise ValueError(f"write_mupots_mat: nothing to write to {out}")
    paths = (out / MAT_2D, out / MAT_3D)
    for path, data in zip(paths, (d2, d3)):
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            scipy.io.savemat(f, data, do_compression=True)
    return paths


def read_mupots_mat(out_dir: str | Path) -> dict[ImageKey, tuple[np.ndarray, np.ndarray]]:
    """Read the two files of :func:`write_mupots_mat` (or the 3DMPPE reference's) back into
    ``{(seq, frame): (pred_2d (P, 17, 2) px, pred_3d (P, 17, 3) mm)}``."""
    out = Path(out_dir)
    loaded = []
    for name in (MAT_2D, MAT_3D):
        path = out / name
        if not path.is_file():
            raise FileNotFoundError(f"MuPoTS prediction file {path} does not exist")
        loaded.append({k: v for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__")})
    d2, d3 = loaded
    if set(d2) != set(d3):
        diff = sorted(set(d2) ^ set(d3))[:5]
        raise ValueError(f"{out}: {MAT_2D} and {MAT_3D} hold different images, e.g. {diff}")
    result = {}
    for name in d2:
        m = _KEY_RE.fullmatch(name)
        if not m:
            raise ValueError(f"{out / MAT_2D}: variable {name!r} is not of the form TS<seq>_img_<frame:06d>")
        key = (int(m.group(1)), int(m.group(2)))
        result[key] = _pred_arrays(key, (d2[name], d3[name]), str(out))
    return result


# --------------------------------------------------------------------------------------------- evaluation
def _gt_arrays(key, gt, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The valid GT people of one image: ``(joints_2d (G, 17, 2) px, joints_3d_cam_mm (G, 17, 3) mm)``."""
    if not isinstance(gt, Mapping):
        # every malformed input is a ValueError: the one exception callers of the evaluators handle
        raise ValueError(  # noqa: TRY004
            f"{where}: ground truth of image {key} must be a mapping with joints_2d, joints_3d_cam_mm")
    for field in ("joints_2d", "joints_3d_cam_mm"):
        if field not in gt:
            raise ValueError(f"{where}: ground truth of image {key} has no field {field!r}")
    g2 = np.asarray(gt["joints_2d"], dtype=np.float64)
    g3 = np.asarray(gt["joints_3d_cam_mm"], dtype=np.float64)
    if g2.size == 0 and g3.size == 0:
        return np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS, 3))
    if g2.shape[1:] != (NUM_JOINTS, 2) or g3.shape[1:] != (NUM_JOINTS, 3) or g2.shape[0] != g3.shape[0]:
        raise ValueError(f"{where}: image {key} needs joints_2d (G, 17, 2) and joints_3d_cam_mm (G, 17, 3), got "
                         f"{g2.shape} and {g3.shape}")
    valid = np.asarray(gt.get("valid", np.ones(g2.shape[0])), dtype=bool).reshape(-1)
    if valid.shape[0] != g2.shape[0]:
        raise ValueError(f"{where}: image {key} field 'valid' has {valid.shape[0]} entries for {g2.shape[0]} people")
    return g2[valid], g3[valid]


def _scores(err_matched: np.ndarray, n_annotated: int, joints, threshold_mm: float) -> dict[str, float]:
    """PCK/AUC (percent) of one group of people: matched only, and all annotated (unmatched = 1e5 mm)."""
    n_unmatched = n_annotated - err_matched.shape[0]
    err_all = np.concatenate([err_matched, np.full((n_unmatched, NUM_JOINTS), UNMATCHED_ERROR_MM)])
    nan = float("nan")
    has = err_matched.shape[0] > 0
    return {
        "pck_all": pck3d(err_all, threshold_mm, joints) if n_annotated else nan,
        "pck_matched": pck3d(err_matched, threshold_mm, joints) if has else nan,
        "auc_all": auc3d(err_all, AUC_THRESHOLDS_MM, joints) if n_annotated else nan,
        "auc_matched": auc3d(err_matched, AUC_THRESHOLDS_MM, joints) if has else nan,
    }


def evaluate_mupots(preds_by_image: Mapping[ImageKey, tuple[np.ndarray, np.ndarray]],
                    gts_by_image: Mapping[ImageKey, Mapping[str, np.ndarray]],
                    rescale_bones: bool = True, threshold_mm: float = 150.0,
                    match_threshold_px: float = 40.0) -> dict:
    """MuPoTS-3D 3DPCK_rel / 3DPCK_abs and AUC, "all annotated" and "matched", per sequence and overall.

    Args:
        preds_by_image: ``(seq, frame)`` → ``(pred_2d (P, 17, 2) px, pred_3d (P, 17, 3) absolute camera mm)``.
            Images missing here have no prediction (their GT people are unmatched).
        gts_by_image: ``(seq, frame)`` → ``{'joints_2d': (G, 17, 2) px, 'joints_3d_cam_mm': (G, 17, 3) mm,
            'valid': (G,) bool (optional, default all)}``. Every image of the test set should be listed.
        rescale_bones: rescale matched predictions to the GT bone lengths (official: yes).
        threshold_mm: 3DPCK threshold (strict <). match_threshold_px: 2D matching threshold (strict <).

    Returns a dict (percentages; NaN where a group has nobody to score):
        ``settings``; ``counts`` (annotated, matched, unmatched GT people; images with valid GT; predictions
        on them; predictions on images without valid GT); ``mean_over_sequences`` and ``pooled`` with keys
        ``pck_rel_all, pck_rel_matched, pck_abs_all, pck_abs_matched, auc_rel_all, auc_rel_matched, auc_abs_all,
        auc_abs_matched``; ``sequences`` = ``{'TS<n>': {annotated, matched, <the same keys>}}``. The mean over
        sequences of a "matched" key leaves out sequences with no matched person.
    """
    errs, annotated, image_counts = _errors_by_sequence(preds_by_image, gts_by_image, rescale_bones,
                                                        match_threshold_px)
    sequences, pooled_err = _sequence_scores(errs, annotated, threshold_mm)
    n_annotated = sum(annotated.values())
    n_matched = sum(r["matched"] for r in sequences.values())
    return {
        "dataset": "MuPoTS-3D",
        "settings": _settings(threshold_mm, rescale_bones, match_threshold_px),
        "counts": {"annotated": n_annotated, "matched": n_matched, "unmatched": n_annotated - n_matched,
                   **image_counts},
        "mean_over_sequences": _mean_over_sequences(sequences),
        "pooled": _mode_scores(pooled_err, n_annotated, threshold_mm),
        "sequences": sequences,
    }


def _errors_by_sequence(preds_by_image: Mapping[ImageKey, tuple[np.ndarray, np.ndarray]],
                        gts_by_image: Mapping[ImageKey, Mapping[str, np.ndarray]], rescale_bones: bool,
                        match_threshold_px: float
                        ) -> tuple[dict[int, dict[str, list[np.ndarray]]], dict[int, int], dict[str, int]]:
    """Walk the GT images in ``(seq, frame)`` order and gather, per sequence, the (17,) per-joint errors in mm
    of every matched GT person (``{'rel': [...], 'abs': [...]}``) and the number of valid GT people.

    Returns ``(errors by seq, annotated by seq, counts)`` with counts ``images`` (with valid GT),
    ``predictions`` (on them) and ``predictions_without_gt`` (on images with no valid or no GT at all).
    """
    errs: dict[int, dict[str, list[np.ndarray]]] = {}
    annotated: dict[int, int] = {}
    counts = {"images": 0, "predictions": 0, "predictions_without_gt": 0}
    for key in preds_by_image:
        if key not in gts_by_image:
            counts["predictions_without_gt"] += _pred_arrays(key, preds_by_image[key], "evaluate_mupots")[0].shape[0]
    for key in sorted(gts_by_image):
        seq, _ = key
        g2, g3 = _gt_arrays(key, gts_by_image[key], "evaluate_mupots")
        if key in preds_by_image:
            p2, p3 = _pred_arrays(key, preds_by_image[key], "evaluate_mupots")
        else:
            p2, p3 = np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS, 3))
        if g2.shape[0] == 0:
            counts["predictions_without_gt"] += p2.shape[0]
            continue
        counts["images"] += 1
        counts["predictions"] += p2.shape[0]
        annotated[seq] = annotated.get(seq, 0) + g2.shape[0]
        seq_errs = errs.setdefault(seq, {mode: [] for mode in _MODES})
        for mode, image_errs in _matched_errors(p2, p3, g2, g3, rescale_bones, match_threshold_px).items():
            seq_errs[mode].extend(image_errs)
    if not annotated:
        raise ValueError("evaluate_mupots: the ground truth holds no valid person")
    return errs, annotated, counts


def _matched_errors(p2: np.ndarray, p3: np.ndarray, g2: np.ndarray, g3: np.ndarray, rescale_bones: bool,
                    match_threshold_px: float) -> dict[str, list[np.ndarray]]:
    """Per-joint 3D errors (17,) in mm of one image's GT people that a prediction matches in 2D, in GT order.

    ``p2``/``g2`` (P|G, 17, 2) px, ``p3``/``g3`` (P|G, 17, 3) camera mm. ``'rel'``: both poses centred on their
    own pelvis; ``'abs'``: both left in the camera frame. The prediction takes the GT's bone lengths first when
    ``rescale_bones``.
    """
    errs: dict[str, list[np.ndarray]] = {mode: [] for mode in _MODES}
    matching = match_poses_2d(p2, g2, MUPOTS_MATCHING_JOINTS, match_threshold_px)
    for k, pi in enumerate(matching):
        if pi < 0:
            continue
        for mode in _MODES:
            pred, gt = p3[pi], g3[k]
            if mode == "rel":
                pred = pred - pred[ROOT_IDX]
                gt = gt - gt[ROOT_IDX]
            if rescale_bones:
                pred = rescale_to_gt_bone_lengths(pred, gt)
            errs[mode].append(np.linalg.norm(pred - gt, axis=-1))
    return errs


def _mode_scores(err_by_mode: Mapping[str, np.ndarray], n_annotated: int, threshold_mm: float) -> dict[str, float]:
    """The eight :data:`SCORE_KEYS` (percent) of one group of people from its matched errors (M, 17) mm per mode."""
    out = {}
    for mode in _MODES:
        for name, v in _scores(err_by_mode[mode], n_annotated, MUPOTS_PCK_JOINTS, threshold_mm).items():
            kind, group = name.split("_")
            out[f"{kind}_{mode}_{group}"] = v
    return {k: out[k] for k in SCORE_KEYS}


def _sequence_scores(errs: Mapping[int, Mapping[str, list[np.ndarray]]], annotated: Mapping[int, int],
                     threshold_mm: float) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Per sequence ``'TS<n>'``: annotated and matched people and the :data:`SCORE_KEYS`; and the errors of all
    sequences pooled per mode ((M, 17) mm, sequences in order) for the MATLAB "Total" column."""
    sequences: dict[str, dict] = {}
    pooled_err: dict[str, list[np.ndarray]] = {mode: [] for mode in _MODES}
    for seq in sorted(annotated):
        e = {mode: np.asarray(errs[seq][mode]).reshape(-1, NUM_JOINTS) for mode in _MODES}
        for mode in _MODES:
            pooled_err[mode].append(e[mode])
        sequences[f"TS{seq}"] = {"annotated": annotated[seq], "matched": len(errs[seq]["rel"]),
                                 **_mode_scores(e, annotated[seq], threshold_mm)}
    return sequences, {mode: np.concatenate(pooled_err[mode]) for mode in _MODES}


def _mean_over_sequences(sequences: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean over sequences of each of the :data:`SCORE_KEYS` (percent), leaving out sequences where it is NaN
    (a "matched" score of a sequence with nobody matched); what papers report."""
    out = {}
    for k in SCORE_KEYS:
        vals = np.array([r[k] for r in sequences.values()], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        out[k] = float(vals.mean()) if vals.size else float("nan")
    return out


def _settings(threshold_mm: float, rescale_bones: bool, match_threshold_px: float) -> dict:
    """The evaluation settings, spelled out in the result so a number can be read without the code."""
    return {"threshold_mm": float(threshold_mm), "auc_thresholds_mm": "0:5:150",
            "pck_joints": ", ".join(MUPOTS.joints_name[j] for j in MUPOTS_PCK_JOINTS),
            "root_joint": MUPOTS.joints_name[ROOT_IDX], "bone_rescaling": bool(rescale_bones),
            "match_threshold_px": float(match_threshold_px)}


class MuPoTSEvaluator(TestSetEvaluator):
    """MuPoTS-3D: 17 joints in MPJPE, the 14 PCK joints in 3DPCK; the official matched / all-annotated 3DPCK per
    sequence, and the ``preds_2d_kpt_mupots.mat`` / ``preds_3d_kpt_mupots.mat`` files of the MATLAB evaluation."""

    def joint_subsets(self, joint_set: JointSet) -> tuple[list[int], list[int]]:
        return list(range(17)), list(MUPOTS_PCK_JOINTS)

    def pose_results(self, name: str, records: Sequence, gt_records: Sequence, pred_img: np.ndarray,
                     pred_cam_mm: np.ndarray, out_dir: Path, gt_boxes: bool) -> dict:
        preds: dict[ImageKey, tuple[list, list]] = defaultdict(lambda: ([], []))
        for rec, p2, p3 in zip(records, pred_img, pred_cam_mm):
            key = (int(rec.extra["seq"]), int(rec.extra["frame"]))
            preds[key][0].append(p2[:, :2])
            preds[key][1].append(p3)
        gts: dict[ImageKey, tuple[list, list]] = defaultdict(lambda: ([], []))
        for rec in gt_records:
            key = (int(rec.extra["seq"]), int(rec.extra["frame"]))
            gts[key][0].append(np.asarray(rec.joints_img)[:, :2])
            gts[key][1].append(np.asarray(rec.joints_cam))
        preds_np = {k: (np.array(a), np.array(b)) for k, (a, b) in preds.items()}
        gts_np = {k: {"joints_2d": np.array(a), "joints_3d_cam_mm": np.array(b)} for k, (a, b) in gts.items()}
        write_mupots_mat(Path(out_dir) / name, preds_np, frames=sorted(set(gts_np) | set(preds_np)))
        return {"mupots": evaluate_mupots(preds_np, gts_np)}

    def headline_figures(self, results: dict) -> dict[str, float]:
        """The papers' MuPoTS-3D 3DPCK (all annotated people, mean over sequences), root-relative and absolute."""
        scores = results.get("mupots", {}).get("mean_over_sequences", {})
        return {f"mupots_{k}_percent": float(scores[k]) for k in ("pck_rel_all", "pck_abs_all") if k in scores}
