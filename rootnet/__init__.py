"""RootNet, in one place: absolute camera-frame root position of a person from a crop and its camera-distance
prior k — the network and its loss (:mod:`.model`) and its engine task (:mod:`.task`)."""
from .model import RootHead, RootNet, build_rootnet, rootnet_loss

__all__ = ["RootHead", "RootNet", "build_rootnet", "rootnet_loss"]
