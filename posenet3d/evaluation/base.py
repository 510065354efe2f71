"""What a test set adds to the generic evaluation of PoseNet and RootNet: the dataset's own evaluator.

The tasks compute what every test set gets (per-person MPJPE / PA-MPJPE / 3DPCK, MRPE / AP_root) and ask the
test set's evaluator — named in the dataset registry (:mod:`posenet3d.datasets.registry`) — for the rest: which
joints count, the dataset's official figures and files, how root errors are grouped. A new test set brings its
evaluator in its own file; the tasks never branch on dataset names.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posenet3d.skeletons import JointSet


class TestSetEvaluator:
    """The default: every joint counts, no extra figures or groups. Subclass per dataset.

    ``adapter``: the test set's adapter (its ``joint_set``, ``records`` and options such as a protocol)."""

    def __init__(self, adapter=None) -> None:
        self.adapter = adapter

    def joint_subsets(self, joint_set: JointSet) -> tuple[list[int], list[int]]:
        """(joints in MPJPE/PA-MPJPE, joints in 3DPCK/AUC), as indices of ``joint_set``."""
        everything = list(range(joint_set.joint_num))
        return everything, everything

    def pose_results(self, name: str, records: Sequence, gt_records: Sequence, pred_img: np.ndarray,
                     pred_cam_mm: np.ndarray, out_dir: Path, gt_boxes: bool) -> dict:
        """The dataset's own figures (and files) for PoseNet's predictions: ``pred_img`` (N, J, 3) [u px, v px,
        Z mm], ``pred_cam_mm`` (N, J, 3) camera frame, one row per record; ``gt_boxes``: the records are the
        ground-truth people. ``name`` labels the run's files. Returns ``{section: figures}``."""
        return {}

    def root_groups(self, records: Sequence) -> tuple[np.ndarray, Sequence[str]] | None:
        """(group index per record, group names) to report RootNet's errors by, or None."""
        return None

    def headline_figures(self, results: dict) -> dict[str, float]:
        """The dataset's headline numbers among a PoseNet test's ``results`` (what :meth:`pose_results` added),
        flat ``{name: number}`` with the unit in the name; empty when it added none."""
        return {}
