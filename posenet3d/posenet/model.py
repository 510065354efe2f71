"""PoseNet: root-relative 3D pose of one person from a 256² crop (Moon et al. 2019, §PoseNet).

ResNet backbone → HeadNet (3 deconvs, 256 ch) → 1×1 conv to joint_num·depth_dim channels (joint-major) →
3D soft-argmax → (B, J, 3) in heatmap units: x, y in 0..W_out-1 (W_out = input/4), z in 0..depth_dim-1 where
z maps linearly to ±1000 mm around the root (the codec converts). Also: the reference's masked L1 loss and
its test-time flip merge.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from posenet3d.nets.backbone import ResNetBackbone
from posenet3d.nets.heads import deconv_stack, soft_argmax_3d


class HeadNet(nn.Module):
    """Deconvolution head: (B, C, h, w) features → (B, J·D, 8h, 8w) volumetric heatmap logits."""

    def __init__(self, in_channels: int, joint_num: int, depth_dim: int = 64, channels: int = 256) -> None:
        super().__init__()
        self.deconv_layers = deconv_stack(in_channels, channels)
        self.final_layer = nn.Conv2d(channels, joint_num * depth_dim, kernel_size=1)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))


class PoseNet(nn.Module):
    """Backbone + HeadNet + 3D soft-argmax. ``forward(img)`` → (B, J, 3) joint coordinates in heatmap units.

    State_dict names match the published 3DMPPE PoseNet (``backbone.*``, ``head.deconv_layers.*``,
    ``head.final_layer.*``) for any backbone depth.
    """

    def __init__(self, backbone: ResNetBackbone, joint_num: int, depth_dim: int = 64,
                 head_channels: int = 256) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = HeadNet(backbone.out_channels, joint_num, depth_dim, head_channels)
        self.joint_num = joint_num
        self.depth_dim = depth_dim

    def heatmaps(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised image → (B, J·D, H/4, W/4) heatmap logits."""
        return self.head(self.backbone(img))

    def forward(self, img: torch.Tensor, return_marginals: bool = False, return_confidence: bool = False):
        """(B, J, 3) coordinates; with ``return_marginals`` also the per-axis marginals (see
        :func:`soft_argmax_3d`) for :func:`marginal_loss`; with ``return_confidence`` (instead) each joint's
        confidence (B, J) in [0, 1] (:func:`posenet3d.nets.heads.mass_near`)."""
        return soft_argmax_3d(self.heatmaps(img), self.joint_num, self.depth_dim, return_marginals,
                              return_confidence)


def posenet_loss(coord_hm: torch.Tensor, target_hm: torch.Tensor, vis: torch.Tensor,
                 has_depth: torch.Tensor) -> torch.Tensor:
    """The reference's masked L1 in heatmap units, (B, J): ``(|dx|·v + |dy|·v + |dz|·v·has_depth) / 3``.

    ``coord_hm``, ``target_hm``: (B, J, 3); ``vis``: (B, J) or (B, J, 1); ``has_depth``: (B,) or (B, 1).
    Computed in float32. Callers take the mean.
    """
    coord_hm, target_hm = coord_hm.float(), target_hm.float()
    v = vis.float().reshape(coord_hm.shape[0], coord_hm.shape[1])
    d = has_depth.float().reshape(-1, 1)
    err = (coord_hm - target_hm).abs()
    return (err[..., 0] * v + err[..., 1] * v + err[..., 2] * v * d) / 3.0


def marginal_loss(marginals: tuple[torch.Tensor, torch.Tensor, torch.Tensor], target_hm: torch.Tensor,
                  vis: torch.Tensor, has_depth: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Optional auxiliary loss (not in the reference): cross-entropy between each axis' marginal distribution
    of the volumetric heatmap and a 1D Gaussian (``sigma`` bins) at the target, masked like
    :func:`posenet_loss`; (B, J). It gives the soft-argmax a shaped heatmap early in training, which speeds up
    convergence from random initialisation."""
    v = vis.float().reshape(target_hm.shape[0], target_hm.shape[1])
    d = has_depth.float().reshape(-1, 1)
    total = torch.zeros_like(v)
    for axis, (p, mask) in enumerate(zip(marginals, (v, v, v * d))):
        bins = torch.arange(p.shape[-1], device=p.device, dtype=torch.float32)
        g = torch.exp(-0.5 * ((bins - target_hm[..., axis:axis + 1].float()) / sigma) ** 2)
        g = g / g.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        total = total + -(g * torch.log(p.float().clamp_min(1e-12))).sum(dim=-1) * mask
    return total / 3.0


def flip_permutation(joint_num: int, flip_pairs: Sequence[tuple[int, int]], device=None) -> torch.Tensor:
    """Joint indices with each left/right pair swapped (the mirrored image's joint order)."""
    perm = list(range(joint_num))
    for a, b in flip_pairs:
        perm[a], perm[b] = perm[b], perm[a]
    return torch.tensor(perm, device=device)


def flip_merge(coord_hm: torch.Tensor, coord_flipped_hm: torch.Tensor, flip_pairs: Sequence[tuple[int, int]],
               width_hm: int) -> torch.Tensor:
    """The reference's test-time flip: the prediction on the mirrored crop gets ``x' = width_hm - 1 - x`` and
    its left/right joints swapped; the result is the mean of the two (B, J, 3) predictions."""
    f = coord_flipped_hm.index_select(1, flip_permutation(coord_flipped_hm.shape[1], flip_pairs,
                                                          coord_flipped_hm.device))
    f[..., 0] = width_hm - 1 - f[..., 0]
    return (coord_hm + f) / 2.0


@torch.no_grad()
def predict(model: nn.Module, img: torch.Tensor, flip_pairs: Sequence[tuple[int, int]] | None = None,
            width_hm: int | None = None, return_confidence: bool = False):
    """PoseNet's test-time output ``(B, J, 3)`` in heatmap units for normalised crops ``img (B, 3, H, W)``.

    With ``flip_pairs`` (the joint set's left/right pairs) this is the reference's flip test: the mirrored crops
    run in the same batch and :func:`flip_merge` averages the two; ``width_hm`` defaults to ``W / 4``. With
    ``return_confidence`` also each joint's confidence ``(B, J)`` in [0, 1] (the mean of the two crops' under
    the flip test)."""
    if flip_pairs is None:
        return model(img, return_confidence=True) if return_confidence else model(img)
    out = model(torch.cat([img, img.flip(3)]), return_confidence=return_confidence)
    out, conf = out if return_confidence else (out, None)
    b = img.shape[0]
    coords = flip_merge(out[:b], out[b:], flip_pairs, width_hm if width_hm is not None else img.shape[3] // 4)
    if conf is None:
        return coords
    swapped = conf[b:].index_select(1, flip_permutation(conf.shape[1], flip_pairs, conf.device))
    return coords, (conf[:b] + swapped) / 2.0


def build_posenet(depth: int = 50, joint_num: int = 21, depth_dim: int = 64, width: float = 1.0,
                  head_channels: int = 256) -> PoseNet:
    """PoseNet on a ResNet-``depth`` backbone (random initialisation)."""
    return PoseNet(ResNetBackbone(depth, width), joint_num, depth_dim, head_channels)
