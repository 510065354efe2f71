"""CenterNet ("Objects as Points") with ResNet trunks, in pure PyTorch + torchvision ops (no compiled DCNv2).

Read top to bottom: the network (``res_18/res_101`` = ResNet + three 256-channel deconvolutions;
``resdcn_18/resdcn_101`` = ResNet + three [modulated deformable 3×3 → BN → ReLU → bilinear ConvTranspose → BN →
ReLU] up-stages of 256/128/64 channels), its loss (focal loss on centre heatmaps + L1 on sizes and offsets), and
its decode (3×3 max-pool peaks → top-K → boxes, optionally 17 COCO joints).

Frames and units:

* input: ``(B, 3, H, W)`` BGR image normalised by the COCO mean/std (see :mod:`posenet3d.detection.pipeline`);
* every output map has stride 4 ("output pixels": ``(B, C, H/4, W/4)``); ``wh``, ``hps``, decoded boxes and
  joints are in output pixels of that map, with pixel ``(x, y)`` of the map at coordinate ``(x, y)``;
* ``hm`` / ``hm_hp`` are raw logits; the loss and decode apply the sigmoid.

The state_dict names equal the published CenterNet checkpoints' (after stripping ``module.``): top-level
``conv1``, ``bn1``, ``layer1..4``, ``deconv_layers.N.*`` (with ``deconv_layers.{0,6,12}.conv_offset_mask.*`` for
the deformable convolutions) and one ``nn.Sequential`` per head (``hm.0``, ``hm.2``, …). Heads are registered in
sorted order for ``res_*`` and in the given order for ``resdcn_*``, as in the reference, so even the key order
matches.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from posenet3d.nets.backbone import ResNetBackbone

ARCHS: dict[str, tuple[str, int]] = {
    "res_18": ("res", 18),
    "res_101": ("res", 101),
    "resdcn_18": ("resdcn", 18),
    "resdcn_101": ("resdcn", 101),
}
#: COCO keypoint count of the ``multi_pose`` task and its left/right pairs (CenterNet ``flip_idx``).
NUM_KEYPOINTS = 17
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14),
                                                (15, 16))
HM_BIAS = -2.19  # = -ln(9): initial centre probability about 0.1


def ctdet_heads(num_classes: int = 1) -> dict[str, int]:
    """Output channels of the detection task, in the reference's dict order: ``hm`` (one map per class),
    ``wh`` (box width, height; output px), ``reg`` (sub-pixel centre offset; output px)."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return {"hm": num_classes, "wh": 2, "reg": 2}


def multi_pose_heads(num_keypoints: int = NUM_KEYPOINTS) -> dict[str, int]:
    """Output channels of the ``multi_pose`` task (one person class), in the reference's dict order: ``hps``
    (joint offsets from the integer centre, (dx, dy) per joint), ``hm_hp`` (one heatmap per joint), ``hp_offset``
    (a sub-pixel offset map shared by all joints)."""
    return {"hm": 1, "wh": 2, "hps": 2 * num_keypoints, "reg": 2, "hm_hp": num_keypoints, "hp_offset": 2}


# ----------------------------------------------------------------------------------------------- network --

class ModulatedDeformConv2d(nn.Module):
    """DCNv2 (modulated deformable convolution) with the parameter names of CenterNet's vendored ``DCN``.

    Parameters: ``weight (out, in, kh, kw)``, ``bias (out,)`` and ``conv_offset_mask`` = a plain conv with
    ``3·groups·kh·kw`` outputs, zero-initialised (so a fresh module is 0.5 × a plain convolution). The forward is
    ``o1, o2, m = chunk(conv_offset_mask(x), 3)``; ``deform_conv2d(x, offset=cat(o1, o2), mask=sigmoid(m))``:
    torchvision reads the offset channels exactly as DCNv2 does (interleaved (dy, dx) per tap, taps row-major),
    so no re-ordering is needed and published weights load unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, dilation: int = 1, deformable_groups: int = 1) -> None:
        super().__init__()
        k = kernel_size
        self.stride, self.padding, self.dilation = (stride, stride), (padding, padding), (dilation, dilation)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        bound = 1.0 / math.sqrt(in_channels * k * k)
        nn.init.uniform_(self.weight, -bound, bound)
        self.conv_offset_mask = nn.Conv2d(in_channels, 3 * deformable_groups * k * k, k, stride=stride,
                                          padding=padding, dilation=dilation, bias=True)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1, o2, m = torch.chunk(self.conv_offset_mask(x), 3, dim=1)
        return deform_conv2d(x, torch.cat((o1, o2), dim=1), self.weight, self.bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, mask=torch.sigmoid(m))


def fill_up_weights(up: nn.ConvTranspose2d) -> None:
    """The reference's bilinear initialisation of an up-convolution: the kernel
    ``(1 - |i/f - c|)(1 - |j/f - c|)`` (``f = ceil(k/2)``, ``c = (2f - 1 - f%2)/(2f)``; for k = 4 the 1-D profile
    is [0.25, 0.75, 0.75, 0.25]) is written into ``weight[c_in, 0]`` for every input channel. As in the reference
    the convolution is not grouped, so only output channel 0 gets it; the other slices keep PyTorch's default."""
    w = up.weight.data
    f = math.ceil(w.size(2) / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    for i in range(w.size(2)):
        for j in range(w.size(3)):
            w[0, 0, i, j] = (1 - abs(i / f - c)) * (1 - abs(j / f - c))
    for ch in range(1, w.size(0)):
        w[ch, 0] = w[0, 0]


class CenterNet(nn.Module):
    """CenterNet with a ResNet trunk; ``forward`` returns ``{head: (B, C_head, H/4, W/4)}`` (raw outputs).

    Args:
        arch: ``res_18``, ``res_101``, ``resdcn_18`` or ``resdcn_101``.
        heads: output channels per head, e.g. :func:`ctdet_heads` (default ``ctdet_heads(1)``: a person detector)
            or :func:`multi_pose_heads`.
        head_conv: channels of each head's 3×3 conv (reference: 64 for res/resdcn); 0 = a single 1×1 conv.
        width: < 1 scales every backbone and up-stage width (a tiny CPU variant for tests; cannot load the
            published or ImageNet weights).
        imagenet: False (random trunk), True (torchvision's ImageNet weights through the download cache; a
            failure is logged once and the trunk stays random) or a file: a torchvision ResNet state_dict or a
            posenet3d snapshot holding a trunk of this depth and width (see :meth:`ResNetBackbone.load_imagenet`).
    """

    def __init__(self, arch: str = "resdcn_18", heads: dict[str, int] | None = None, head_conv: int = 64,
                 width: float = 1.0, imagenet: bool | str | Path = False) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown CenterNet arch {arch!r}; choose one of {sorted(ARCHS)}")
        if head_conv < 0:
            raise ValueError(f"head_conv must be >= 0, got {head_conv}")
        heads = dict(ctdet_heads(1) if heads is None else heads)
        self.arch, self.head_conv, self.width = arch, head_conv, width
        kind, depth = ARCHS[arch]
        trunk = ResNetBackbone(depth, width)
        if imagenet:
            trunk.load_imagenet(None if imagenet is True else imagenet)
        self.conv1, self.bn1, self.relu, self.maxpool = trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4

        def scaled(c: int) -> int:
            return max(8, int(round(c * width)))

        if kind == "res":
            self.deconv_layers, out_ch = self._plain_deconvs(trunk.out_channels, scaled(256)), scaled(256)
            order = sorted(heads)
        else:
            planes = [scaled(256), scaled(128), scaled(64)]
            self.deconv_layers, out_ch = self._dcn_deconvs(trunk.out_channels, planes), planes[-1]
            order = list(heads)
        self.heads = {name: heads[name] for name in order}
        for name in order:
            if not name.isidentifier() or hasattr(self, name):
                raise ValueError(f"invalid head name {name!r}")
            self.add_module(name, self._head(out_ch, heads[name], head_conv, name, kind))

    @staticmethod
    def _plain_deconvs(in_ch: int, ch: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(3):
            up = nn.ConvTranspose2d(in_ch if i == 0 else ch, ch, 4, stride=2, padding=1, output_padding=0,
                                    bias=False)
            nn.init.normal_(up.weight, std=0.001)
            layers += [up, nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers)

    @staticmethod
    def _dcn_deconvs(in_ch: int, planes: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for p in planes:
            up = nn.ConvTranspose2d(p, p, 4, stride=2, padding=1, output_padding=0, bias=False)
            fill_up_weights(up)
            layers += [ModulatedDeformConv2d(in_ch, p, 3, stride=1, padding=1), nn.BatchNorm2d(p),
                       nn.ReLU(inplace=True), up, nn.BatchNorm2d(p), nn.ReLU(inplace=True)]
            in_ch = p
        return nn.Sequential(*layers)

    @staticmethod
    def _head(in_ch: int, n_out: int, head_conv: int, name: str, kind: str) -> nn.Module:
        if head_conv > 0:
            head = nn.Sequential(nn.Conv2d(in_ch, head_conv, 3, padding=1, bias=True), nn.ReLU(inplace=True),
                                 nn.Conv2d(head_conv, n_out, 1, bias=True))
            final = head[-1]
        else:
            head = final = nn.Conv2d(in_ch, n_out, 1, bias=True)
        if "hm" in name:
            nn.init.constant_(final.bias, HM_BIAS)
        else:  # res: only the final conv; resdcn: every conv of the head (reference fill_fc_weights)
            for m in (head.modules() if kind == "resdcn" else [final]):
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, std=0.001)
                    nn.init.zeros_(m.bias)
        return head

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"CenterNet expects a (B, 3, H, W) image tensor, got shape {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.deconv_layers(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
        return {name: getattr(self, name)(x) for name in self.heads}

    @property
    def num_classes(self) -> int:
        return self.heads["hm"]

    @torch.no_grad()
    def select_classes(self, class_indices: list[int]) -> None:
        """Keep only the given channels of the ``hm`` head (e.g. ``[0]``: COCO person of an 80-class model)."""
        head = self.hm
        final = head[-1] if isinstance(head, nn.Sequential) else head
        n = final.out_channels
        if not class_indices or any(not 0 <= c < n for c in class_indices):
            raise ValueError(f"class indices {class_indices} out of range for an hm head with {n} classes")
        idx = torch.as_tensor(class_indices, dtype=torch.long, device=final.weight.device)
        new = nn.Conv2d(final.in_channels, len(class_indices), 1, bias=True).to(final.weight)
        new.weight.copy_(final.weight.index_select(0, idx))
        new.bias.copy_(final.bias.index_select(0, idx))
        if isinstance(head, nn.Sequential):
            head[-1] = new
        else:
            self.hm = new
        self.heads["hm"] = len(class_indices)


# -------------------------------------------------------------------------------------------------- loss --

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


# ------------------------------------------------------------------------------------------------ decode --

def heatmap_peaks(heat: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Zero every value that is not the maximum of its ``kernel``×``kernel`` neighbourhood (plateaus survive)."""
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    return heat * (hmax == heat).to(heat.dtype)


def topk_peaks(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """Two-stage top-K over ``(B, C, H, W)``: per class, then over all classes.

    Returns ``(scores, flat_index y·W+x, class, y, x)``, each ``(B, K')`` with ``K' = min(k, C·min(k, H·W))``;
    ``y, x`` are float output-pixel coordinates."""
    b, c, h, w = scores.shape
    k1 = min(k, h * w)
    s1, i1 = torch.topk(scores.reshape(b, c, h * w), k1)
    k2 = min(k, c * k1)
    s2, i2 = torch.topk(s1.reshape(b, c * k1), k2)
    cls = torch.div(i2, k1, rounding_mode="floor")
    inds = i1.reshape(b, c * k1).gather(1, i2)
    ys = torch.div(inds, w, rounding_mode="floor").float()
    xs = (inds % w).float()
    return s2, inds, cls, ys, xs


def _refine_centres(xs: torch.Tensor, ys: torch.Tensor, inds: torch.Tensor, reg: torch.Tensor | None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak pixels + the regressed sub-pixel offset (output px); without ``reg`` the pixel's middle (+0.5)."""
    if reg is None:
        return xs + 0.5, ys + 0.5
    off = gather_at(reg, inds)
    return xs + off[..., 0], ys + off[..., 1]


def _box_sizes(wh: torch.Tensor, inds: torch.Tensor) -> torch.Tensor:
    """Box (w, h) in output px at the peaks ``inds``, clamped at 0: an under-trained size head can predict a
    negative width (seen from a real snapshot: w = −2 px), which would give x2 < x1."""
    return gather_at(wh, inds).clamp(min=0)


def ctdet_decode(hm_prob: torch.Tensor, wh: torch.Tensor, reg: torch.Tensor | None = None, k: int = 100
                 ) -> torch.Tensor:
    """Boxes from centre probabilities ``(B, C, H, W)`` (after sigmoid), sizes ``wh`` and offsets ``reg``.

    Returns ``(B, K, 6)`` = ``[x1, y1, x2, y2, score, class]`` in output pixels, sorted by score (class 0-based).
    Without ``reg`` the centre is put at the pixel's middle (+0.5), as in the reference.
    """
    scores, inds, cls, ys, xs = topk_peaks(heatmap_peaks(hm_prob), k)
    xs, ys = _refine_centres(xs, ys, inds, reg)
    size = _box_sizes(wh, inds)
    half_w, half_h = size[..., 0] / 2, size[..., 1] / 2
    return torch.stack([xs - half_w, ys - half_h, xs + half_w, ys + half_h, scores, cls.float()], dim=2)


def multi_pose_decode(hm_prob: torch.Tensor, wh: torch.Tensor, hps: torch.Tensor, reg: torch.Tensor | None = None,
                      hm_hp_prob: torch.Tensor | None = None, hp_offset: torch.Tensor | None = None,
                      k: int = 100, joint_thresh: float = 0.1, snap_ratio: float = 0.3) -> torch.Tensor:
    """People with 17 joints: ``(B, K, 5 + 2J + 1)`` = ``[x1, y1, x2, y2, score, x_0, y_0, …, class]`` (output px).

    Joints are regressed from the *integer* centre (``hps``), then each snaps to the nearest joint-heatmap peak
    of its type (top-K per joint of ``hm_hp_prob``, refined by ``hp_offset``) unless that peak scores below
    ``joint_thresh``, lies outside the person's box, or is farther than ``snap_ratio``·max(box w, box h).
    """
    b, _, h, w = hm_prob.shape
    scores, inds, cls, ys, xs = topk_peaks(heatmap_peaks(hm_prob), k)
    kk = scores.shape[1]
    j = hps.shape[1] // 2
    kps = gather_at(hps, inds).reshape(b, kk, j, 2) + torch.stack([xs, ys], dim=2).unsqueeze(2)
    xs, ys = _refine_centres(xs, ys, inds, reg)
    size = _box_sizes(wh, inds)
    boxes = torch.stack([xs - size[..., 0] / 2, ys - size[..., 1] / 2, xs + size[..., 0] / 2,
                         ys + size[..., 1] / 2], dim=2)
    if hm_hp_prob is not None:
        kj = min(k, h * w)
        hp_scores, hp_inds = torch.topk(heatmap_peaks(hm_hp_prob).reshape(b, j, h * w), kj)  # (B, J, Kj)
        hp_xy = torch.stack([(hp_inds % w).float(), torch.div(hp_inds, w, rounding_mode="floor").float()], dim=3)
        if hp_offset is not None:
            hp_xy = hp_xy + gather_at(hp_offset, hp_inds.reshape(b, j * kj)).reshape(b, j, kj, 2)
        else:
            hp_xy = hp_xy + 0.5
        weak = hp_scores <= joint_thresh
        hp_xy = hp_xy.masked_fill(weak.unsqueeze(3), -10000.0)
        hp_scores = hp_scores.masked_fill(weak, -1.0)
        reg_kps = kps.permute(0, 2, 1, 3)  # (B, J, K, 2)
        dist = torch.cdist(reg_kps, hp_xy)  # (B, J, K, Kj)
        min_dist, nearest = dist.min(dim=3)
        near_xy = hp_xy.gather(2, nearest.unsqueeze(3).expand(b, j, kk, 2))
        near_score = hp_scores.gather(2, nearest)
        x1, y1, x2, y2 = (boxes[..., i].unsqueeze(1) for i in range(4))  # (B, 1, K)
        reject = ((near_xy[..., 0] < x1) | (near_xy[..., 0] > x2) | (near_xy[..., 1] < y1)
                  | (near_xy[..., 1] > y2) | (near_score < joint_thresh)
                  | (min_dist > torch.maximum(y2 - y1, x2 - x1) * snap_ratio))
        kps = torch.where(reject.unsqueeze(3), reg_kps, near_xy).permute(0, 2, 1, 3)
    return torch.cat([boxes, scores.unsqueeze(2), kps.reshape(b, kk, 2 * j), cls.float().unsqueeze(2)], dim=2)


def _swap_pairs(x: torch.Tensor, pairs: tuple[tuple[int, int], ...], dim: int) -> torch.Tensor:
    order = list(range(x.shape[dim]))
    for a, c in pairs:
        order[a], order[c] = order[c], order[a]
    return x.index_select(dim, torch.as_tensor(order, device=x.device))


def to_probabilities(outputs: dict[str, torch.Tensor], flip_test: bool = False,
                     flip_pairs: tuple[tuple[int, int], ...] = COCO_FLIP_PAIRS) -> dict[str, torch.Tensor]:
    """Sigmoid on ``hm``/``hm_hp`` and, with ``flip_test``, merge a batch whose second half is the horizontally
    flipped first half (reference §4.5): ``hm``, ``wh`` (and ``hm_hp`` with L/R channel swap, ``hps`` with dx
    negated and L/R swap) are averaged with the un-flipped copy; ``reg`` and ``hp_offset`` come from the
    un-flipped image only. Returns maps for a batch of ``B`` (``B = 2N → N`` with flip test)."""
    out = {name: (torch.sigmoid(v.float()) if name in ("hm", "hm_hp") else v.float())
           for name, v in outputs.items()}
    if not flip_test:
        return out
    n = next(iter(out.values())).shape[0]
    if n % 2:
        raise ValueError(f"flip test needs a batch of [images, flipped images], got an odd batch of {n}")
    n //= 2
    merged = {}
    for name, v in out.items():
        a, f = v[:n], torch.flip(v[n:], dims=[3])
        if name in ("hm", "wh"):
            merged[name] = (a + f) / 2
        elif name == "hm_hp":
            merged[name] = (a + _swap_pairs(f, flip_pairs, 1)) / 2
        elif name == "hps":
            fb, c, h, w = f.shape
            f = f.reshape(fb, c // 2, 2, h, w) * torch.tensor([-1.0, 1.0], device=f.device).view(1, 1, 2, 1, 1)
            merged[name] = (a + _swap_pairs(f, flip_pairs, 1).reshape(fb, c, h, w)) / 2
        else:
            merged[name] = a
    return merged


def decode(outputs: dict[str, torch.Tensor], k: int = 100, flip_test: bool = False,
           flip_pairs: tuple[tuple[int, int], ...] = COCO_FLIP_PAIRS) -> torch.Tensor:
    """Raw network outputs → ``ctdet_decode`` (``(B, K, 6)``) or, when ``hps`` is present, ``multi_pose_decode``
    (``(B, K, 40)``); coordinates in output pixels (see :func:`to_probabilities` for ``flip_test``)."""
    p = to_probabilities(outputs, flip_test, flip_pairs)
    if "hps" in p:
        return multi_pose_decode(p["hm"], p["wh"], p["hps"], p.get("reg"), p.get("hm_hp"), p.get("hp_offset"), k)
    return ctdet_decode(p["hm"], p["wh"], p.get("reg"), k)
