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
_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
_STD = np.array(IMAGENET_STD, dtype=np.float32)


def normalize_patch(patches_rgb: np.ndarray, channels_last: bool = False) -> torch.Tensor:
    """RGB patches ``(..., H, W, 3)`` on the 0–255 scale (uint8 or float) → the network input
    ``(..., 3, H, W)`` float32 ``(RGB − mean)/std`` (module docstring).

    The result is contiguous, or with ``channels_last`` a view in channels-last (NHWC) memory order.
    """
    x = np.asarray(patches_rgb)
    if x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"expected (..., H, W, 3) RGB patches, got shape {x.shape}")
    # numpy, not torch ops: cheap in DataLoader workers and in the main process alike
    x = x.astype(np.float32, copy=True)
    x -= _MEAN
    x /= _STD
    chw = torch.from_numpy(x).movedim(-1, -3)
    return chw if channels_last else chw.contiguous()
