"""ResNet-18/34/50/101/152 feature extractor with torchvision's parameter names.

Built from torchvision's ``BasicBlock`` / ``Bottleneck`` so the state_dict names are exactly torchvision's
(``conv1``, ``bn1``, ``layer1`` … ``layer4``, ``downsample.0/1``) and the published 3DMPPE and ImageNet weights
load unchanged. There is no avgpool and no fc: the output is a feature map of stride 32
(``(B, C, H/32, W/32)``, C = 512·width for ResNet-18/34, 2048·width for ResNet-50+).

``width`` < 1 gives a narrower network (all stage widths scaled; a documented CPU-training variant). It cannot
load ImageNet weights.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

log = logging.getLogger(__name__)

RESNET_SPECS: dict[int, tuple[type[nn.Module], list[int]]] = {
    18: (tv_resnet.BasicBlock, [2, 2, 2, 2]),
    34: (tv_resnet.BasicBlock, [3, 4, 6, 3]),
    50: (tv_resnet.Bottleneck, [3, 4, 6, 3]),
    101: (tv_resnet.Bottleneck, [3, 4, 23, 3]),
    152: (tv_resnet.Bottleneck, [3, 8, 36, 3]),
}
_TV_WEIGHTS = {18: "ResNet18_Weights", 34: "ResNet34_Weights", 50: "ResNet50_Weights",
               101: "ResNet101_Weights", 152: "ResNet152_Weights"}


class ResNetBackbone(nn.Module):
    """ResNet trunk: conv1 7x7/2 → bn1 → relu → maxpool 3x3/2 → layer1..4 (strides 1, 2, 2, 2)."""

    def __init__(self, depth: int = 50, width: float = 1.0) -> None:
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"unsupported ResNet depth {depth}; choose one of {sorted(RESNET_SPECS)}")
        if not 0 < width <= 4:
            raise ValueError(f"backbone width must be in (0, 4], got {width}")
        block, layers = RESNET_SPECS[depth]
        self.depth, self.width = depth, width
        planes = [max(8, int(round(p * width))) for p in (64, 128, 256, 512)]
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(3, planes[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.out_channels = planes[3] * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"backbone expects a (B, 3, H, W) image tensor, got shape {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_imagenet(self, source: str | Path | None = None) -> bool:
        """Initialise from pretrained weights. ``source`` None: torchvision's ImageNet weights (download cache;
        downloads when reachable) — on failure one clear warning (per process) and the random initialisation
        stays, returning False. ``source`` a file: a torchvision ResNet state_dict (``fc.*`` ignored) or any
        posenet3d snapshot whose network holds a trunk of this depth and width (PoseNet/RootNet ``backbone.*``,
        CenterNet ``conv1``/``layer*``) — e.g. a synthetic-world PoseNet as the pretraining of a detector where
        no ImageNet weights are reachable. A missing or incompatible file raises
        :class:`~posenet3d.checkpoint.CheckpointError` naming it."""
        if source is not None:
            self.load_state_dict(trunk_state_from_file(source, self), strict=True)
            return True
        if self.width != 1.0:
            raise ValueError("ImageNet weights exist only for width 1.0 backbones; give a snapshot of a "
                             f"width-{self.width} network as the pretrained file instead")
        try:
            state = tv_resnet.__dict__[_TV_WEIGHTS[self.depth]].IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # no network, corrupt download
            _warn_once(f"ImageNet weights for ResNet-{self.depth} could not be loaded from torchvision "
                       f"({_TV_WEIGHTS[self.depth]}.IMAGENET1K_V1: {exc}); training starts from random initialisation.")
            return False
        self.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=True)
        return True


@functools.cache
def _warn_once(message: str) -> None:
    """Log ``message`` once per process (every network of a run would otherwise repeat it)."""
    log.warning(message)


_TRUNK_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")


def trunk_state_from_file(source: str | Path, trunk: nn.Module) -> dict[str, torch.Tensor]:
    """The ResNet trunk weights in ``source`` (a torchvision state_dict or a posenet3d snapshot), checked
    name-for-name and shape-for-shape against ``trunk``. Raises
    :class:`~posenet3d.checkpoint.CheckpointError` naming the file and what differs."""
    from posenet3d.checkpoint import CheckpointError, extract_state_dict, load_file

    path = Path(source)
    state = extract_state_dict(load_file(path), str(path))
    out = {k.removeprefix("backbone."): v for k, v in state.items()}
    out = {k: v for k, v in out.items() if k.startswith(_TRUNK_PREFIXES)}
    expected = trunk.state_dict()
    missing = sorted(set(expected) - set(out))
    wrong = [f"{k} {tuple(out[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in out and out[k].shape != v.shape]
    if missing or wrong:
        detail = (f"{len(missing)} trunk weights missing (first: {missing[0]})" if missing else
                  f"{len(wrong)} shapes differ (first: {wrong[0]})")
        raise CheckpointError(f"{path}: not a ResNet-{trunk.depth} trunk of width {trunk.width}: {detail}")
    return {k: out[k] for k in expected}
