"""Dataset evaluators: they know each benchmark's joints, roots, matching and averaging, and call the pure
metric functions of :mod:`posenet3d.metrics` (mm in, numbers out).

* :mod:`.human36m` — MPJPE / PA-MPJPE (3DMPPE rigid and similarity) in total and per action;
* :mod:`.mupots` — MuPoTS-3D 3DPCK_rel/abs and AUC (all annotated and matched), the MATLAB .mat files;
* :mod:`.rootnet` — MRPE, AP_root, the ``bbox_root_*_output.json`` file;
* :mod:`.report` — plain-text tables, ``output/result/<name>.json`` and prediction HDF5, written atomically.
"""
from posenet3d.evaluation.human36m import ACTION_NAMES, evaluate_human36m
from posenet3d.evaluation.mupots import MUPOTS_PCK_JOINTS, evaluate_mupots, mat_key, read_mupots_mat, write_mupots_mat
from posenet3d.evaluation.report import (
                                         atomic_path,
                                         format_results,
                                         format_table,
                                         read_predictions_h5,
                                         write_json,
                                         write_predictions_h5,
                                         write_result_json,
)
from posenet3d.evaluation.rootnet import evaluate_roots, read_bbox_root_json, write_bbox_root_json

__all__ = [
    "ACTION_NAMES", "MUPOTS_PCK_JOINTS", "atomic_path", "evaluate_human36m", "evaluate_mupots", "evaluate_roots",
    "format_results", "format_table", "mat_key", "read_bbox_root_json", "read_mupots_mat", "read_predictions_h5",
    "write_bbox_root_json", "write_json", "write_mupots_mat", "write_predictions_h5", "write_result_json",
]
