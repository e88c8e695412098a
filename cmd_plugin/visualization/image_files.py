"""Image files as one uint8 batch, for figures."""
import os.path as osp
from typing import Sequence

import mmcv
import numpy as np


def read_images(paths: Sequence[str], size: int) -> np.ndarray:
    """Read image files as uint8 BGR and resize them to ``size x size``.

    Args:
        paths (Sequence[str]): Image files.
        size (int): Output side.

    Returns:
        np.ndarray: ``(B, size, size, 3)`` uint8, BGR.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f'--size must be a positive int, got {size!r}.')
    images = []
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'Image file not found: {path}')
        img = mmcv.imread(path, channel_order='bgr')
        if img is None:
            raise ValueError(f'Cannot decode image file: {path}')
        images.append(mmcv.imresize(img, (size, size),
                                    interpolation='bicubic'))
    return np.stack(images)
