"""Training augmentation of the top-down codec: parameter sampling, synthetic occlusion and colour scaling.

The distributions are the 3DMPPE reference's (``get_aug_config`` / ``generate_patch_image``):

* scale ``clip(N(0,1), -1, 1)·0.25 + 1`` (0.75–1.25; the sampled box is ``scale`` times the processed box);
* rotation ``clip(N(0,1), -2, 2)·30°`` with probability 0.6, else 0;
* horizontal flip with probability 0.5;
* colour: every RGB channel multiplied by ``U[0.8, 1.2]``, then clipped to 0..255;
* synthetic occlusion with probability 0.5: one rectangle of area ``U(0, 0.7)·`` (processed box area) and
  aspect ``h/w ~ U(0.3, 1/0.3)``, placed from the box's top-left corner as the reference does and accepted
  only if it lies inside the image (the reference retries forever; here at most ``occlusion_tries`` times,
  after which there is no occlusion), filled with uniform noise 0..255.

RootNet uses the same sampler with no scale and no occlusion (:meth:`AugConfig.rootnet`), because scaling
the crop would break its k value.

Everything random is drawn from a caller-supplied :class:`numpy.random.Generator`, so a sample is a pure
function of its seed. :class:`AugParams` holds the drawn values (including a seed for the occlusion noise),
so :mod:`posenet3d.datasets.topdown` can apply them deterministically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugConfig:
    """Strength of each augmentation. ``*_prob`` are probabilities; ``scale_factor`` is relative;
    ``rot_factor_deg`` in degrees (one standard deviation, clipped at ``rot_clip`` deviations)."""

    scale_factor: float = 0.25
    rot_factor_deg: float = 30.0
    rot_clip: float = 2.0
    rot_prob: float = 0.6
    flip_prob: float = 0.5
    color_factor: float = 0.2
    occlusion_prob: float = 0.5
    occlusion_area: tuple[float, float] = (0.0, 0.7)
    occlusion_aspect: tuple[float, float] = (0.3, 1.0 / 0.3)
    occlusion_tries: int = 50

    @classmethod
    def posenet(cls) -> AugConfig:
        """The reference PoseNet augmentation (scale, rotation, flip, colour, occlusion)."""
        return cls()

    @classmethod
    def rootnet(cls) -> AugConfig:
        """The reference RootNet augmentation: rotation, flip and colour; no scale, no occlusion."""
        return cls(scale_factor=0.0, occlusion_prob=0.0)


@dataclass(frozen=True)
class AugParams:
    """One sample's augmentation.

    Attributes:
        scale: the crop covers ``scale`` × the processed box (> 1: the person looks smaller).
        rot_deg: rotation of the sampled region in degrees (as :func:`posenet3d.crop.crop_affine`).
        flip: mirror horizontally (``u → W − 1 − u`` in the original image; left/right joints swap).
        color_scale: per-channel factors for R, G, B (patch values are clipped to 0..255 afterwards).
        occlusion: ``(x, y, w, h)`` integer rectangle in *original-image* pixels (before the flip) filled with
            noise, or None.
        noise_seed: seed of the occlusion noise.
    """

    scale: float = 1.0
    rot_deg: float = 0.0
    flip: bool = False
    color_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    occlusion: tuple[int, int, int, int] | None = None
    noise_seed: int = 0


#: No augmentation (test time).
NO_AUG = AugParams()


def sample_occlusion(rng: np.random.Generator, bbox_xywh, img_width: int, img_height: int,
                     cfg: AugConfig = AugConfig()) -> tuple[int, int, int, int] | None:
    """Draw the reference's occlusion rectangle ``(x, y, w, h)`` (integer px of the original image) for a
    processed box ``bbox_xywh`` (px), or None if no placement inside the image was found in
    ``cfg.occlusion_tries`` draws."""
    bx, by, bw, bh = (float(v) for v in np.asarray(bbox_xywh, dtype=np.float64).reshape(4))
    a_lo, a_hi = cfg.occlusion_area
    r_lo, r_hi = cfg.occlusion_aspect
    for _ in range(cfg.occlusion_tries):
        area = (rng.random() * (a_hi - a_lo) + a_lo) * bw * bh
        ratio = rng.random() * (r_hi - r_lo) + r_lo
        h = math.sqrt(area * ratio)
        w = math.sqrt(area / ratio)
        x = rng.random() * (bw - w - 1) + bx
        y = rng.random() * (bh - h - 1) + by
        if x >= 0 and y >= 0 and x + w < img_width and y + h < img_height:
            return int(x), int(y), int(w), int(h)
    return None


def sample_aug(rng: np.random.Generator, bbox_xywh, img_width: int, img_height: int,
               cfg: AugConfig = AugConfig()) -> AugParams:
    """Draw one sample's :class:`AugParams` (reference distributions scaled by ``cfg``).

    ``bbox_xywh`` is the processed box (px) and ``img_width``/``img_height`` the image size (px); they are only
    used to place the occlusion rectangle.
    """
    scale = float(np.clip(rng.standard_normal(), -1.0, 1.0) * cfg.scale_factor + 1.0)
    rot_draw = float(np.clip(rng.standard_normal(), -cfg.rot_clip, cfg.rot_clip) * cfg.rot_factor_deg)
    rot = rot_draw if rng.random() < cfg.rot_prob else 0.0
    flip = bool(rng.random() < cfg.flip_prob)
    color = tuple(float(c) for c in rng.uniform(1.0 - cfg.color_factor, 1.0 + cfg.color_factor, size=3))
    occlusion = None
    if rng.random() < cfg.occlusion_prob:
        occlusion = sample_occlusion(rng, bbox_xywh, img_width, img_height, cfg)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    return AugParams(scale=scale, rot_deg=rot, flip=flip, color_scale=color, occlusion=occlusion,
                     noise_seed=noise_seed)


def occlude_region(region: np.ndarray, region_xy: tuple[int, int], rect_xywh: tuple[int, int, int, int],
                   noise_seed: int) -> None:
    """Fill, in place, the part of ``rect_xywh`` (original-image px) that falls inside ``region`` — an
    ``(h, w, C)`` uint8 copy of the image whose top-left pixel is ``region_xy`` of the original image — with
    uniform noise 0..255.

    The noise is drawn for the whole rectangle from ``noise_seed`` and only the visible part is written, so the
    result does not depend on how the region was cut.
    """
    x, y, w, h = rect_xywh
    if w <= 0 or h <= 0:
        return
    rx, ry = region_xy
    x0, y0 = max(x, rx), max(y, ry)
    x1, y1 = min(x + w, rx + region.shape[1]), min(y + h, ry + region.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    rng = np.random.default_rng(noise_seed)
    noise = rng.integers(0, 256, size=(h, w, region.shape[2]), dtype=np.uint8)
    region[y0 - ry:y1 - ry, x0 - rx:x1 - rx] = noise[y0 - y:y1 - y, x0 - x:x1 - x]


def apply_color(patch: np.ndarray, color_scale_rgb) -> np.ndarray:
    """Multiply an ``(H, W, 3)`` RGB patch per channel and clip to 0..255; returns float32. The product is
    taken in float64 and rounded once to float32, as the reference's float32 patch times its float64 factors."""
    out = np.asarray(patch, dtype=np.float64) * np.asarray(color_scale_rgb, dtype=np.float64).reshape(1, 1, 3)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.float32)
