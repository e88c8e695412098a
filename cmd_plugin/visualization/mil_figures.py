"""One figure per image file: where a CMD checkpoint's network looks.

The logic of ``tools/visualize_mil.py`` (see its docstring for the figure).
"""
import os.path as osp
from pathlib import Path
from typing import List, Optional, Sequence

import mmcv
import numpy as np
from mmengine.config import Config

from .instance_maps import (instance_maps, load_cmd_model, network_modules,
                            preprocess)
from .weight_maps import plot_weight_maps


def global_crop_size(cfg: Config, default: int = 224) -> int:
    """The ``global_size`` of the config's ``CMDMultiCrop``, else ``default``.

    Args:
        cfg (Config): A pre-training config.
        default (int): Returned when the train pipeline has no
            ``CMDMultiCrop``. Defaults to 224.
    """
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    for transform in dataset.get('pipeline', []):
        if transform.get('type') in ('CMDMultiCrop',
                                     'mmpretrain.CMDMultiCrop'):
            return transform.get('global_size', default)
    return default


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


def visualize(config: str,
              checkpoint: str,
              images: Sequence[str],
              out: str,
              network: str = 'teacher',
              size: Optional[int] = None) -> List[Path]:
    """Write one figure per image; see the module docstring.

    Args:
        config (str): Pre-training config of the checkpoint.
        checkpoint (str): CMD checkpoint.
        images (Sequence[str]): Image files.
        out (str): Output folder.
        network (str): ``'teacher'`` or ``'student'``. Defaults to
            ``'teacher'``.
        size (int, optional): Side the images are resized to; None takes
            :func:`global_crop_size` of the config.

    Returns:
        list[Path]: The PNGs written, in the order of ``images``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'Config file not found: {config}')
    names = [Path(path).stem for path in images]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f'Images must have distinct names (each gives '
                         f'<name>.png); repeated: {clashes}.')
    cfg = Config.fromfile(config)
    size = global_crop_size(cfg) if size is None else size
    images_bgr = read_images(images, size)
    model = load_cmd_model(cfg, checkpoint)
    backbone, neck = network_modules(model, network)
    maps = instance_maps(backbone, neck, preprocess(model, images_bgr))
    uniform = getattr(neck, 'attention', None) == 'none'
    columns = [] if uniform else [(f'{network} MIL weights', maps.mil)]
    if maps.cls_attention is not None:
        columns.append((f'{network} last-layer cls attention',
                        maps.cls_attention))
    note = (' (MIL weights uniform by construction: not drawn)'
            if uniform else '')
    written = []
    for i, path in enumerate(images):
        written.append(plot_weight_maps(
            [images_bgr[i, ..., ::-1]],
            [(name, [values[i].numpy()]) for name, values in columns],
            Path(out) / f'{Path(path).stem}.png',
            title=f'{Path(path).name}: {Path(checkpoint).name}{note}'))
    return written
