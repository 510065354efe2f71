"""PoseNet, in one place: the network, its loss, flip test and decode helpers (:mod:`.model`) and its engine task
(:mod:`.task`). The crop and coordinate codec it shares with RootNet is :mod:`posenet3d.datasets.topdown`."""
from .model import PoseNet, build_posenet, flip_merge, posenet_loss, predict

__all__ = ["PoseNet", "build_posenet", "flip_merge", "posenet_loss", "predict"]
