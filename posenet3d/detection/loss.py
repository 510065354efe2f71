"""CenterNet's training loss: focal loss on the centre (and joint) heatmaps, L1 on sizes and offsets.

Targets come from :mod:`posenet3d.detection.targets`; every map has stride 4 (output px).
"""
from __future__ import annotations

import torch
from torch import nn


def clamped_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """``clamp(sigmoid(x), 1e-4, 1 - 1e-4)`` (the reference's ``_sigmoid``): keeps the focal loss's logs finite."""
    return torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)


def focal_loss(logits: torch.Tensor, gt: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CornerNet/CenterNet focal loss on heatmaps ``(B, C, H, W)`` (``gt`` in [0, 1], exactly 1 at centres).

    ``L = -(1/N_pos) Σ [gt=1]·(1-p)^α·log p + [gt<1]·(1-gt)^β·p^α·log(1-p)`` with ``p`` the clamped sigmoid of
    ``logits``; ``N_pos`` counts the 1s over the whole batch; without positives the negative sum is not normalised.
    """
    p = clamped_sigmoid(logits)
    gt = gt.float()
    pos = gt.eq(1).float()
    neg = 1.0 - pos
    pos_loss = (torch.log(p) * (1 - p).pow(alpha) * pos).sum()
    neg_loss = (torch.log(1 - p) * p.pow(alpha) * (1 - gt).pow(beta) * neg).sum()
    # without positives pos_loss is 0 and the division is by 1: the same value with no GPU→CPU sync
    return -(pos_loss + neg_loss) / pos.sum().clamp_min(1.0)


def gather_at(feat: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """Values of a map ``(B, C, H, W)`` at flat indices ``ind (B, M)`` = ``y·W + x`` → ``(B, M, C)``."""
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    return flat.gather(2, ind.long().unsqueeze(1).expand(b, c, ind.shape[1])).transpose(1, 2)


def reg_l1_loss(output: torch.Tensor, mask: torch.Tensor, ind: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between ``output`` gathered at ``ind`` and ``target (B, M, C)``, over the entries where ``mask`` is set.

    ``mask`` is ``(B, M)`` (per object) or ``(B, M, C)`` (per element, e.g. the joints of ``hps``); the sum of
    absolute errors is divided by the number of active elements (+1e-4), i.e. a per-coordinate mean.
    """
    pred = gather_at(output, ind).float()
    m = mask.float()
    if m.dim() == 2:
        m = m.unsqueeze(2).expand_as(pred)
    return (torch.abs(pred - target.float()) * m).sum() / (m.sum() + 1e-4)


class CenterNetLoss(nn.Module):
    """The ctdet / multi_pose training loss; the terms present follow the network's heads.

    ``L = hm·focal(hm) + wh·L1(wh) + off·L1(reg)`` and, for multi_pose, ``+ hp·L1(hps) + hm_hp·focal(hm_hp)
    + hp_offset·L1(hp_offset)`` with the reference weights 1, 0.1, 1, 1, 1, 1.
    ``batch`` holds the targets of :mod:`posenet3d.detection.targets` (``hm, ind, reg_mask, wh, reg`` and
    ``hps, hps_mask, hm_hp, hp_ind, hp_mask, hp_offset``). Returns ``(total, {term: detached value})``.
    """

    def __init__(self, hm_weight: float = 1.0, wh_weight: float = 0.1, off_weight: float = 1.0,
                 hp_weight: float = 1.0, hm_hp_weight: float = 1.0, hp_offset_weight: float = 1.0) -> None:
        super().__init__()
        self.weights = {"hm": hm_weight, "wh": wh_weight, "reg": off_weight, "hps": hp_weight,
                        "hm_hp": hm_hp_weight, "hp_offset": hp_offset_weight}

    def forward(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms: dict[str, torch.Tensor] = {"hm": focal_loss(outputs["hm"], batch["hm"])}
        if "wh" in outputs:
            terms["wh"] = reg_l1_loss(outputs["wh"], batch["reg_mask"], batch["ind"], batch["wh"])
        if "reg" in outputs:
            terms["reg"] = reg_l1_loss(outputs["reg"], batch["reg_mask"], batch["ind"], batch["reg"])
        if "hps" in outputs:
            terms["hps"] = reg_l1_loss(outputs["hps"], batch["hps_mask"], batch["ind"], batch["hps"])
        if "hm_hp" in outputs:
            terms["hm_hp"] = focal_loss(outputs["hm_hp"], batch["hm_hp"])
        if "hp_offset" in outputs:
            terms["hp_offset"] = reg_l1_loss(outputs["hp_offset"], batch["hp_mask"], batch["hp_ind"],
                                             batch["hp_offset"])
        total = sum(self.weights[k] * v for k, v in terms.items())
        stats = {f"{k}_loss": v.detach() for k, v in terms.items()}  # tensors: reading them is the caller's sync
        stats["loss"] = total.detach()
        return total, stats
