"""Pieces shared by PoseNet's and RootNet's heads: the deconvolution stack and soft-argmax.

Soft-argmax always runs in float32 (also under autocast) for numerical safety.
"""
from __future__ import annotations

import torch
from torch import nn


def deconv_stack(in_channels: int, channels: int = 256, num_layers: int = 3) -> nn.Sequential:
    """``num_layers`` × [ConvTranspose2d(k4, s2, p1, no bias) → BN → ReLU]; each doubles H and W.

    Sequential indices are 0,1,2 | 3,4,5 | 6,7,8 as in the published checkpoints (``deconv_layers.*``).
    """
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers += [
            nn.ConvTranspose2d(in_channels if i == 0 else channels, channels, kernel_size=4, stride=2,
                               padding=1, output_padding=0, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
    seq = nn.Sequential(*layers)
    for m in seq.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=0.001)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return seq


#: Half-size of the box around the soft-argmax location whose probability mass is a joint's confidence:
#: (x and y in heatmap cells, z in depth bins). At the reference's 64³ heatmaps of a 256² crop of a box extended
#: ×1.25, 2 cells are 8 crop px and 2 bins 62.5 mm.
CONFIDENCE_RADIUS = (2.0, 2.0)


def mass_near(p: torch.Tensor, coords: torch.Tensor, radius: tuple[float, float] = CONFIDENCE_RADIUS) -> torch.Tensor:
    """Per-joint confidence in [0, 1]: the probability mass of each joint's distribution ``p`` (B, J, D, H, W)
    in the voxels within ``radius`` = (cells in x and y, bins in z) of its soft-argmax location ``coords``
    (B, J, 3) (x, y, z in heatmap units). A sharp, unimodal heatmap gives ~1; a spread or multi-modal one, whose
    expectation may sit between modes, gives little. (The raw peak value is not a usable confidence: a softmax
    over 64³ voxels rarely puts more than a few percent in one voxel.)"""
    d, h, w = p.shape[-3:]
    axes = []
    for i, n, r in ((0, w, radius[0]), (1, h, radius[0]), (2, d, radius[1])):
        grid = torch.arange(n, device=p.device, dtype=p.dtype)
        axes.append(((grid - coords[..., i:i + 1]).abs() <= r).to(p.dtype))
    return torch.einsum("bjdhw,bjw,bjh,bjd->bj", p, axes[0], axes[1], axes[2])


def soft_argmax_3d(heatmaps: torch.Tensor, joint_num: int, depth_dim: int, return_marginals: bool = False,
                   return_confidence: bool = False):
    """Integral regression over volumetric heatmaps.

    ``heatmaps``: (B, joint_num·depth_dim, H, W) logits, channels joint-major (channel = j·depth_dim + d).
    Returns (B, joint_num, 3) = (x, y, z) expectations in heatmap units: x in 0..W-1, y in 0..H-1,
    z in 0..depth_dim-1. Softmax over all D·H·W voxels of a joint, in float32. With ``return_marginals`` also
    the marginal distributions ``(px (B,J,W), py (B,J,H), pz (B,J,D))``; with ``return_confidence`` (instead)
    each joint's confidence (B, J) from :func:`mass_near`.
    """
    b, c, h, w = heatmaps.shape
    if c != joint_num * depth_dim:
        raise ValueError(f"expected {joint_num}x{depth_dim}={joint_num * depth_dim} heatmap channels, got {c}")
    with torch.autocast(device_type=heatmaps.device.type, enabled=False):
        p = torch.softmax(heatmaps.float().reshape(b, joint_num, depth_dim * h * w), dim=2)
        p = p.reshape(b, joint_num, depth_dim, h, w)
        px = p.sum(dim=(2, 3))
        py = p.sum(dim=(2, 4))
        pz = p.sum(dim=(3, 4))
        x = (px * torch.arange(w, device=p.device, dtype=p.dtype)).sum(dim=2)
        y = (py * torch.arange(h, device=p.device, dtype=p.dtype)).sum(dim=2)
        z = (pz * torch.arange(depth_dim, device=p.device, dtype=p.dtype)).sum(dim=2)
        coords = torch.stack([x, y, z], dim=2)
        if return_confidence:
            return coords, mass_near(p, coords)
    return (coords, (px, py, pz)) if return_marginals else coords


def soft_argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) logits → (B, K, 2) = (x, y) expectations in heatmap units, float32."""
    b, k, h, w = heatmaps.shape
    with torch.autocast(device_type=heatmaps.device.type, enabled=False):
        p = torch.softmax(heatmaps.float().reshape(b, k, h * w), dim=2).reshape(b, k, h, w)
        x = (p.sum(dim=2) * torch.arange(w, device=p.device, dtype=p.dtype)).sum(dim=2)
        y = (p.sum(dim=3) * torch.arange(h, device=p.device, dtype=p.dtype)).sum(dim=2)
    return torch.stack([x, y], dim=2)
