"""Infer what the MIL neck and the head need from the backbone itself.

Swapping ``model.backbone`` should take one key. The width of the region
tokens (``in_channels`` of the neck and the head) and whether there is a
class token for the image embedding follow from what the backbone returns,
so they are read from one dry forward pass when the config leaves them out.
Values the config gives win, and are checked against that pass.
"""
import copy
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from cmd_plugin.utils.validation import ConfigError

#: Side of the dry-run input when the backbone does not declare an
#: ``img_size`` (the global crop size of the shipped configs).
DEFAULT_SIZE = 224

#: What to set so that a backbone returns a map, by backbone class name.
MAP_HINTS = {
    'ConvNeXt': 'gap_before_final_norm=False',
    'VisionTransformer': "out_type='raw'",
    'DistilledVisionTransformer': "out_type='raw'",
    'TIMMBackbone': "features_only=False and global_pool=''",
}


class PooledOutputError(ConfigError):
    """The backbone returns a pooled vector: there are no regions."""


@dataclass
class BackboneOutput:
    """What a backbone's last output looks like.

    Attributes:
        channels (int): Width ``C`` of its tokens or feature map.
        class_token (bool): Whether a token sequence starts with a class
            token (False for feature maps).
        shape (tuple[int, ...]): The shape the dry run gave.
    """
    channels: int
    class_token: bool
    shape: Tuple[int, ...]


def _input_size(backbone: nn.Module) -> Tuple[int, int]:
    """The ``(H, W)`` the backbone was built for, else the default."""
    size = getattr(backbone, 'img_size', None)
    if isinstance(size, int):
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(size[0]), int(size[1])
    return DEFAULT_SIZE, DEFAULT_SIZE


@torch.no_grad()
def probe_backbone(backbone: nn.Module,
                   key: str = 'model.backbone') -> BackboneOutput:
    """Run the backbone once on a zero image and describe its last output.

    The backbone is put in eval mode for the pass and returned to its mode
    afterwards; its weights do not change.

    Args:
        backbone (nn.Module): A built backbone.
        key (str): Its config key, for messages. Defaults to
            ``'model.backbone'``.

    Returns:
        BackboneOutput: Channels and class token of the last output.

    Raises:
        PooledOutputError: The backbone returns a pooled vector ``(B, C)``
            (there are no regions to weigh), or an output of another rank;
            the message names the backbone key to change.
    """
    training = backbone.training
    backbone.eval()
    try:
        param = next(backbone.parameters(), None)
        device = param.device if param is not None else 'cpu'
        out = backbone(torch.zeros(1, 3, *_input_size(backbone),
                                   device=device))
    finally:
        backbone.train(training)
    x = out[-1] if isinstance(out, (tuple, list)) else out
    if isinstance(x, (tuple, list)):  # e.g. ViT out_type='raw' + extras
        x = x[0]
    name = type(backbone).__name__
    if x.dim() == 4:
        return BackboneOutput(x.shape[1], False, tuple(x.shape))
    if x.dim() == 3:
        class_token = getattr(backbone, 'cls_token', None) is not None
        return BackboneOutput(x.shape[2], class_token, tuple(x.shape))
    hint = MAP_HINTS.get(name)
    fix = (f'Set {key}.{hint}' if hint else
           f'Set the option of {name} that returns its last feature map')
    raise PooledOutputError(
        f'{key}: {name} returns {tuple(x.shape)}, a pooled vector; CMD '
        'weighs the regions of a feature map (B, C, H, W) or of patch tokens '
        f'(B, 1 + N, C). {fix}.')


def complete_region_configs(
        backbone: nn.Module,
        neck: dict,
        head: Optional[dict] = None,
        key: str = 'model') -> Tuple[dict, Optional[dict]]:
    """Fill in what the neck and head configs leave to the backbone.

    ``neck.in_channels`` and ``head.in_channels`` (when absent or None) are
    the backbone's output width; ``neck.embedding`` (when absent) is
    ``'cls'`` for a backbone with a class token, else ``'bag'``. Nothing is
    run when the configs set all three.

    Args:
        backbone (nn.Module): The built backbone.
        neck (dict): The ``MILNeck`` config.
        head (dict, optional): The ``CMDHead`` config, if any.
        key (str): Key path of the model, for messages. Defaults to
            ``'model'``.

    Returns:
        tuple[dict, dict | None]: Copies of ``neck`` and ``head``, completed.

    Raises:
        ConfigError: See :func:`probe_backbone` (when a width is left out);
            or an explicit
            ``in_channels`` that differs from the backbone's width, or
            ``embedding='cls'`` for a backbone without a class token.
    """
    neck = copy.deepcopy(dict(neck))
    head = None if head is None else copy.deepcopy(dict(head))
    parts = [('neck', neck)] + ([('head', head)] if head is not None else [])
    widths_given = all(cfg.get('in_channels') is not None for _, cfg in parts)
    if widths_given and 'embedding' in neck:
        return neck, head
    try:
        found = probe_backbone(backbone, f'{key}.backbone')
    except PooledOutputError:
        if not widths_given:
            raise
        # only the embedding was left out: MILNeck's default stays, and the
        # neck names the backbone key at the first step
        return neck, head
    problems = []
    for part, cfg in parts:
        if cfg.get('in_channels') is None:
            cfg['in_channels'] = found.channels
        elif cfg['in_channels'] != found.channels:
            problems.append(
                f'{key}.{part}.in_channels: {cfg["in_channels"]!r}, but '
                f'{key}.backbone returns {found.channels} channels; remove '
                "the key to use the backbone's width.")
    if 'embedding' not in neck:
        neck['embedding'] = 'cls' if found.class_token else 'bag'
    elif neck['embedding'] != 'bag' and not found.class_token:
        problems.append(
            f'{key}.neck.embedding={neck["embedding"]!r} needs a class token, '
            f'but {key}.backbone ({type(backbone).__name__}) returns none; '
            "set it to 'bag' or remove the key.")
    if problems:
        raise ConfigError('\n'.join(problems))
    return neck, head
