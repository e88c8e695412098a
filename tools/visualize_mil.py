"""Overlay the MIL instance weights of a CMD checkpoint on images.

    python tools/visualize_mil.py CONFIG CHECKPOINT --images IMG [IMG ...]
        --out DIR [--network teacher|student] [--size N]

CONFIG is the pre-training config of the checkpoint (it builds the ``CMD``
model; the checkpoint is loaded strictly through mmengine's loader). For
every image the tool writes ``DIR/<image name>.png``: the image resized to
``N x N``, the MIL instance weights ``a_i`` of the chosen network's
``backbone + neck`` over the region grid and, for a VisionTransformer
backbone, the last block's class-token attention over the patches (averaged
over heads) for comparison. Swin and ResNet backbones have no class token:
their figure shows the image and the MIL weights.

The maps are drawn cell by cell (no smoothing), at the granularity the
network works at: MIL regions (e.g. 4x4 for a 64 px crop of a stride-16
ResNet, 7x7 for ViT-S/16 or Swin-T at 224) and ViT patches. Each map is
shown relative to uniform (``N * a_i``: 1 = the uniform ``1/N``) on one
logarithmic colour scale per figure with a colorbar (white = uniform), so
a uniform map looks flat. A MIL neck with ``attention='none'`` (the DINO
baseline) has uniform weights by construction: its panel is left out and
the title says so.
"""
import argparse
import os.path as osp
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from torch import nn

import cmd_plugin  # noqa: F401  (registers CMD, MILNeck, ...)
from cmd_plugin.apis.preflight import check_checkpoint
from cmd_plugin.models.algorithms.cmd import CMD
from cmd_plugin.utils.user_errors import (UserError, add_debug_argument,
                                          exit_on_user_error)
from cmd_plugin.visualization import plot_weight_maps
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils.attention import MultiheadAttention
from mmpretrain.registry import MODELS

NETWORKS = ('teacher', 'student')


class NotCMDConfigError(UserError, TypeError):
    """The config's model is not a CMD pre-training model."""


class CheckpointMismatchError(UserError, RuntimeError):
    """The checkpoint's keys or shapes do not fit the config's model."""


@dataclass
class InstanceMaps:
    """Where a network looks, for a batch of ``B`` images.

    Attributes:
        mil (Tensor): MIL instance weights on the region grid, ``(B, h, w)``;
            each map sums to 1.
        cls_attention (Tensor, optional): Last-block attention of the class
            token to the patches, averaged over heads and renormalised over
            the patches, ``(B, gh, gw)``; each map sums to 1. None for
            backbones without a class token.
    """
    mil: torch.Tensor
    cls_attention: Optional[torch.Tensor] = None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Overlay the MIL instance weights (and, for ViTs, the '
        'last-layer cls attention) of a CMD checkpoint on images.')
    parser.add_argument('config', metavar='CONFIG',
                        help='pre-training config of the checkpoint')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help='CMD pre-training checkpoint')
    parser.add_argument('--images', nargs='+', required=True,
                        help='image files')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--network', choices=NETWORKS, default='teacher',
                        help='whose backbone and neck to show '
                        '(default: teacher)')
    parser.add_argument(
        '--size', type=int,
        help='side the images are resized to (default: the global crop '
        'size of the config\'s CMDMultiCrop, else 224)')
    add_debug_argument(parser)
    return parser.parse_args(argv)


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


def load_cmd_model(cfg: Config, checkpoint: str) -> CMD:
    """Build the config's CMD model and load a checkpoint into it, strictly.

    Args:
        cfg (Config): The pre-training config (``model.type='CMD'``).
        checkpoint (str): Path or URL of a checkpoint of that model.

    Returns:
        CMD: The model in eval mode, on the CPU.
    """
    model_cfg = dict(cfg.model)
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    if not isinstance(model, CMD):
        raise NotCMDConfigError(
            f'visualize_mil needs a CMD pre-training config, but its model is '
            f'{type(model).__name__}. Pass the config the checkpoint was '
            'pre-trained with.')
    # mmengine's loader (weights_only-safe once cmd_plugin is imported);
    # strict: every key of the model must come from the checkpoint
    try:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                        logger='silent')
    except RuntimeError as error:  # strict: missing / unexpected keys
        raise CheckpointMismatchError(
            f'{checkpoint} does not fit the model of its config: {error}'
        ) from error
    return model.eval()


def network_modules(model: CMD, network: str) -> Tuple[nn.Module, nn.Module]:
    """``(backbone, neck)`` of the teacher or the student of a CMD model."""
    if network not in NETWORKS:
        raise ValueError(f'Unknown network {network!r}. Valid choices are '
                         f'{list(NETWORKS)}.')
    if network == 'teacher':
        return model.teacher.backbone, model.teacher.neck
    return model.backbone, model.neck


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


def preprocess(model: nn.Module, images_bgr: np.ndarray) -> torch.Tensor:
    """Normalise images with the model's data preprocessor.

    Args:
        model (nn.Module): A model with an mmengine ``data_preprocessor``.
        images_bgr (np.ndarray): ``(B, H, W, 3)`` uint8, BGR.

    Returns:
        Tensor: ``(B, 3, H, W)`` float, as the model saw in training.
    """
    inputs = torch.from_numpy(images_bgr).permute(0, 3, 1, 2).contiguous()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=None), False)
    return data['inputs']


@contextmanager
def capture_cls_attention(backbone: nn.Module) -> Iterator[dict]:
    """Record the last block's class-token attention of a ViT.

    mmpretrain's ``MultiheadAttention`` does not return its attention
    matrix, so a forward hook on the last block's ``qkv`` linear keeps its
    output and the class token's row ``softmax(q_cls k^T / sqrt(d))`` is
    recomputed from it (the scale ``MultiheadAttention`` uses:
    ``head_dims ** -0.5``). A hook on ``patch_embed`` records the patch
    grid.

    Args:
        backbone (nn.Module): A :class:`VisionTransformer` (or subclass)
            whose blocks use mmpretrain's ``MultiheadAttention``.

    Yields:
        dict: After a forward pass, ``attention`` (``(B, heads, N)``: the
        class token's attention over all ``N`` tokens, prefix tokens first,
        each row summing to 1) and ``grid`` (``(gh, gw)`` patches).
    """
    attn = backbone.layers[-1].attn
    if not isinstance(attn, MultiheadAttention):
        raise TypeError(
            'capture_cls_attention needs mmpretrain MultiheadAttention in the '
            f'last block, found {type(attn).__name__}.')
    record = {}

    def on_qkv(module, args, qkv: torch.Tensor) -> None:
        batch, num_tokens, _ = qkv.shape
        qkv = qkv.reshape(batch, num_tokens, 3, attn.num_heads,
                          attn.head_dims).permute(2, 0, 3, 1, 4)
        query, key = qkv[0][:, :, :1], qkv[1]  # (B, h, 1, d), (B, h, N, d)
        logits = query @ key.transpose(-2, -1) * attn.head_dims**-0.5
        record['attention'] = logits.squeeze(2).softmax(dim=-1)

    def on_patch_embed(module, args, output) -> None:
        record['grid'] = tuple(output[1])

    handles = [
        attn.qkv.register_forward_hook(on_qkv),
        backbone.patch_embed.register_forward_hook(on_patch_embed)
    ]
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def instance_maps(backbone: nn.Module, neck: nn.Module,
                  images: torch.Tensor) -> InstanceMaps:
    """MIL weights and, for a ViT, the cls attention of one forward pass.

    Args:
        backbone (nn.Module): The backbone of a CMD network.
        neck (nn.Module): Its :class:`MILNeck`.
        images (Tensor): ``(B, 3, H, W)``, normalised.

    Returns:
        InstanceMaps: The maps of every image.
    """
    is_vit = isinstance(backbone, VisionTransformer) and getattr(
        backbone, 'cls_token', None) is not None
    if not is_vit:
        mil = neck(backbone(images))
        return InstanceMaps(mil=mil.weights.reshape(-1, *mil.grid))
    with capture_cls_attention(backbone) as record:
        mil = neck(backbone(images))
    prefix = backbone.num_extra_tokens
    patches = record['attention'][:, :, prefix:].mean(dim=1)  # (B, gh * gw)
    patches = patches / patches.sum(dim=1, keepdim=True)
    return InstanceMaps(
        mil=mil.weights.reshape(-1, *mil.grid),
        cls_attention=patches.reshape(-1, *record['grid']))


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


def check_inputs(args: argparse.Namespace) -> None:
    """Check the files the command line names before building anything.

    Raises:
        UserError: The config, the checkpoint or some images do not exist;
            the message names the argument.
    """
    if not osp.isfile(args.config):
        raise UserError(f'CONFIG: config file {args.config!r} does not '
                        'exist.')
    check_checkpoint(args.checkpoint, 'CHECKPOINT')
    missing = [path for path in args.images if not osp.isfile(path)]
    if missing:
        raise UserError(f'--images: {len(missing)} of {len(args.images)} '
                        f'image files do not exist: {missing}.')


def main(argv=None) -> List[Path]:
    args = parse_args(argv)
    with exit_on_user_error('visualize_mil.py', args.debug):
        check_inputs(args)
        written = visualize(args.config, args.checkpoint, args.images,
                            args.out, args.network, args.size)
    print(f'Wrote {len(written)} figures to {args.out}')
    return written


if __name__ == '__main__':
    main()
