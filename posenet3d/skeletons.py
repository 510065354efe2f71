"""Joint sets of the supported datasets: names, root, left/right flip pairs, bones; mapping by name.

Joint indices are 0-based. ``flip_pairs`` are (left-or-right, its mirror) index pairs; ``skeleton`` lists
bones as index pairs for drawing and bone-length checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointSet:
    name: str
    joints_name: tuple[str, ...]
    root_idx: int
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]

    @property
    def joint_num(self) -> int:
        return len(self.joints_name)

    def index(self, joint_name: str) -> int:
        try:
            return self.joints_name.index(joint_name)
        except ValueError:
            raise KeyError(f"joint {joint_name!r} is not in the {self.name} joint set {self.joints_name}") from None

    def flip_permutation(self) -> np.ndarray:
        """Index permutation that swaps every left/right pair (apply as ``joints[perm]``)."""
        perm = np.arange(self.joint_num)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


def map_joints(src: JointSet, dst: JointSet, joints: np.ndarray, vis: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Re-index per-joint arrays ``(..., J_src, C)`` from ``src`` to ``dst`` by joint name.

    Joints of ``dst`` missing from ``src`` get zeros and visibility 0. Returns ``(joints (..., J_dst, C),
    vis (..., J_dst))``; ``vis`` defaults to ones for the joints ``src`` has.
    """
    joints = np.asarray(joints)
    if vis is None:
        vis = np.ones(joints.shape[:-1], dtype=np.float32)
    vis = np.asarray(vis, dtype=np.float32).reshape(joints.shape[:-1])
    out = np.zeros(joints.shape[:-2] + (dst.joint_num, joints.shape[-1]), dtype=joints.dtype)
    out_vis = np.zeros(joints.shape[:-2] + (dst.joint_num,), dtype=np.float32)
    for j_dst, name in enumerate(dst.joints_name):
        if name in src.joints_name:
            j_src = src.joints_name.index(name)
            out[..., j_dst, :] = joints[..., j_src, :]
            out_vis[..., j_dst] = vis[..., j_src]
    return out, out_vis


HUMAN36M = JointSet(
    name="Human36M",
    joints_name=("Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso", "Neck", "Nose",
                 "Head", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist", "Thorax"),
    root_idx=0,
    flip_pairs=((1, 4), (2, 5), (3, 6), (14, 11), (15, 12), (16, 13)),
    skeleton=((0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
              (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6)),
)
#: Human3.6M evaluation joints (the 17 original joints; Thorax excluded).
HUMAN36M_EVAL_JOINTS = tuple(range(17))

MUCO = JointSet(
    name="MuCo",
    joints_name=("Head_top", "Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow", "L_Wrist",
                 "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Spine", "Head",
                 "R_Hand", "L_Hand", "R_Toe", "L_Toe"),
    root_idx=14,
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (17, 18), (19, 20)),
    skeleton=((0, 16), (16, 1), (1, 15), (15, 14), (14, 8), (14, 11), (8, 9), (9, 10), (10, 19), (11, 12),
              (12, 13), (13, 20), (1, 2), (2, 3), (3, 4), (4, 17), (1, 5), (5, 6), (6, 7), (7, 18)),
)

MUPOTS = JointSet(
    name="MuPoTS",
    joints_name=MUCO.joints_name[:17],
    root_idx=14,
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13)),
    skeleton=((0, 16), (16, 1), (1, 15), (15, 14), (14, 8), (14, 11), (8, 9), (9, 10), (11, 12), (12, 13),
              (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7)),
)
#: MuPoTS-3D evaluation joints (indices into the 17-joint MuPoTS set).
MUPOTS_EVAL_JOINTS = tuple(range(17))

COCO = JointSet(
    name="MSCOCO",
    joints_name=("Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow",
                 "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Thorax",
                 "Pelvis"),
    root_idx=18,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    skeleton=((1, 2), (0, 1), (0, 2), (2, 4), (1, 3), (6, 8), (8, 10), (5, 7), (7, 9), (12, 14), (14, 16),
              (11, 13), (13, 15), (5, 6), (11, 12), (17, 0), (17, 18)),
)
#: The 17 original COCO keypoints (CenterNet multi_pose order) are the first 17 of :data:`COCO`.
COCO_KEYPOINT_NUM = 17

MPII = JointSet(
    name="MPII",
    joints_name=("R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Thorax", "Neck", "Head",
                 "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder", "L_Elbow", "L_Wrist"),
    root_idx=6,
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    skeleton=((0, 1), (1, 2), (2, 6), (7, 12), (12, 11), (11, 10), (5, 4), (4, 3), (3, 6), (7, 13), (13, 14),
              (14, 15), (6, 7), (7, 8), (8, 9)),
)

JOINT_SETS: dict[str, JointSet] = {s.name: s for s in (HUMAN36M, MUCO, MUPOTS, COCO, MPII)}


def get_joint_set(name: str) -> JointSet:
    if name not in JOINT_SETS:
        raise KeyError(f"unknown joint set {name!r}; known: {sorted(JOINT_SETS)}")
    return JOINT_SETS[name]
