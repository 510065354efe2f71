"""RootNet (Moon et al. 2019): where a person's root joint is, in image px and absolute depth (mm).

backbone → (xy) the PoseNet deconvs → 1×1 conv to one map → 2D soft-argmax (heatmap units);
         → (depth) global average pool → 1×1 conv (C→1) = γ;  Z_root_mm = γ · k,
where ``k = sqrt(A_real·fx·fy / (w·h))`` of the processed box (:func:`posenet3d.geometry.k_value`).
Output (B, 3) = [x_hm, y_hm, Z_mm]. State_dict names match the published checkpoint (``backbone.*``,
``root.deconv_layers.*``, ``root.xy_layer.*``, ``root.depth_layer.*``).
"""
from __future__ import annotations

import torch
from torch import nn

from posenet3d.nets.backbone import ResNetBackbone
from posenet3d.nets.heads import deconv_stack, soft_argmax_2d


class RootHead(nn.Module):
    def __init__(self, in_channels: int, channels: int = 256) -> None:
        super().__init__()
        self.deconv_layers = deconv_stack(in_channels, channels)
        self.xy_layer = nn.Conv2d(channels, 1, kernel_size=1)
        self.depth_layer = nn.Conv2d(in_channels, 1, kernel_size=1)
        for conv in (self.xy_layer, self.depth_layer):
            nn.init.normal_(conv.weight, std=0.001)
            nn.init.zeros_(conv.bias)
        # Start at gamma = 1, i.e. at the k prior (the reference starts at gamma = 0, i.e. depth 0, which costs
        # ~1000 Adam steps from random initialisation before the depth is even in range).
        nn.init.ones_(self.depth_layer.bias)

    def forward(self, feat: torch.Tensor, k_value: torch.Tensor) -> torch.Tensor:
        xy = soft_argmax_2d(self.xy_layer(self.deconv_layers(feat)))[:, 0]  # (B, 2)
        # γ in fp32 even under autocast: in bf16 Z = γ·k would move in 16–31 mm steps at 4 m
        with torch.autocast(feat.device.type, enabled=False):
            gamma = self.depth_layer(feat.float().mean(dim=(2, 3), keepdim=True)).flatten(1)  # (B, 1)
            depth = gamma * k_value.float().reshape(-1, 1)
        return torch.cat([xy, depth], dim=1)


class RootNet(nn.Module):
    """``forward(img, k_value)``: (B, 3, H, W) normalised crops and (B,) or (B, 1) k in mm → (B, 3) =
    [x_hm, y_hm, Z_root_mm] (x, y in heatmap units 0..H/4-1; Z absolute camera depth)."""

    def __init__(self, backbone: ResNetBackbone, head_channels: int = 256) -> None:
        super().__init__()
        self.backbone = backbone
        self.root = RootHead(backbone.out_channels, head_channels)

    def forward(self, img: torch.Tensor, k_value: torch.Tensor) -> torch.Tensor:
        if k_value.numel() != img.shape[0]:
            raise ValueError(f"RootNet needs one k value per image: {img.shape[0]} images, "
                             f"{k_value.numel()} k values")
        return self.root(self.backbone(img), k_value)


def rootnet_loss(coord: torch.Tensor, target: torch.Tensor, vis: torch.Tensor,
                 has_depth: torch.Tensor) -> torch.Tensor:
    """The reference's loss, (B,): ``(|dx|·v + |dy|·v + |dZ|·v·has_depth) / 3`` — xy in heatmap cells,
    Z in mm (so depth dominates). ``coord``, ``target``: (B, 3); ``vis``, ``has_depth``: (B,) or (B, 1)."""
    err = (coord.float() - target.float()).abs()
    v = vis.float().reshape(-1)
    d = has_depth.float().reshape(-1)
    return (err[:, 0] * v + err[:, 1] * v + err[:, 2] * v * d) / 3.0


def build_rootnet(depth: int = 50, width: float = 1.0, head_channels: int = 256) -> RootNet:
    """RootNet on a ResNet-``depth`` backbone (random initialisation)."""
    return RootNet(ResNetBackbone(depth, width), head_channels)
