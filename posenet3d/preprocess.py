"""The network input convention of the published 3DMPPE models.

The reference reads BGR with OpenCV, crops, flips to RGB, casts to ``float32`` *without* dividing by 255,
then applies ``Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))``. The published PoseNet and
RootNet weights therefore expect ``(RGB_0..255 - mean) / std`` with the ImageNet mean and std as they are
(values up to about 1100). posenet3d reproduces this so that those weights behave as published, and uses the
same convention for the models it trains.
"""
from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(3, 1, 1)
_STD = np.array(IMAGENET_STD, dtype=np.float32).reshape(3, 1, 1)


def patch_to_tensor(patch_rgb: np.ndarray) -> torch.Tensor:
    """An ``(H, W, 3)`` RGB patch on the 0–255 scale (uint8 or float) → a ``(3, H, W)`` float32 network input."""
    if patch_rgb.ndim != 3 or patch_rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB patch, got shape {patch_rgb.shape}")
    # numpy, not torch ops: cheap in DataLoader workers and in the main process alike
    chw = np.ascontiguousarray(np.asarray(patch_rgb, dtype=np.float32).transpose(2, 0, 1))
    chw -= _MEAN
    chw /= _STD
    return torch.from_numpy(chw)


def normalize_input(img_rgb255: torch.Tensor) -> torch.Tensor:
    """Normalise ``(..., 3, H, W)`` RGB values on the 0–255 scale as the published models expect."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=img_rgb255.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=img_rgb255.device).view(3, 1, 1)
    return (img_rgb255.float() - mean) / std
