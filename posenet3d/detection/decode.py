"""CenterNet decoding: 3×3 max-pool peaks → top-K → boxes (and 17 COCO joints), with the optional flip test.

Boxes and joints are in output px of the stride-4 maps (see :mod:`posenet3d.detection.model`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .loss import gather_at
from .model import COCO_FLIP_PAIRS


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
    flipped first half (CenterNet's flip test): ``hm``, ``wh`` (and ``hm_hp`` with L/R channel swap, ``hps`` with dx
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
