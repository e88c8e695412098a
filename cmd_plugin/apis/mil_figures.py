"""One figure per image file: where a CMD checkpoint's network looks (what
``tools/visualize_mil.py`` runs; see its docstring for the figure)."""
import os.path as osp
from pathlib import Path
from typing import List, Optional, Sequence

from mmengine.config import Config

from ..models.utils.cmd_checkpoint import network_modules
from ..visualization import (instance_maps, plot_weight_maps, preprocess,
                             read_images)
from .model_loading import build_model
from .pipeline_lookup import find_transform


def global_crop_size(cfg: Config, default: int = 224) -> int:
    """The ``global_size`` of the config's ``CMDMultiCrop``, else ``default``.

    Args:
        cfg (Config): A pre-training config.
        default (int): Returned when the training pipeline has no
            ``CMDMultiCrop``. Defaults to 224.
    """
    crop = find_transform(cfg, 'CMDMultiCrop', required=False)
    return default if crop is None else crop.get('global_size', default)


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
    model = build_model(cfg, checkpoint)
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
