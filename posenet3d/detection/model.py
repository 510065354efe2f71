"""CenterNet ("Objects as Points") with ResNet trunks, in pure PyTorch + torchvision ops (no compiled DCNv2).

The network: ``res_18/res_101`` = ResNet + three 256-channel deconvolutions; ``resdcn_18/resdcn_101`` = ResNet
+ three [modulated deformable 3×3 → BN → ReLU → bilinear ConvTranspose → BN → ReLU] up-stages of 256/128/64
channels; one small head per output. Its loss (focal loss on centre heatmaps + L1 on sizes and offsets) is in
:mod:`.loss`, its decode (3×3 max-pool peaks → top-K → boxes, optionally 17 COCO joints) in :mod:`.decode`, its
training targets in :mod:`.targets` and its engine task in :mod:`.task`.

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
