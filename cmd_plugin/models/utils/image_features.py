"""One feature vector per image from a backbone (and MIL neck)."""
from typing import List, Optional, Union

import torch
from torch import nn

from cmd_plugin.utils.validation import check_choice

FEATURES = ('cls', 'avg', 'cls+avg', 'bag')


def check_feature(feature: str, has_neck: bool, config_key: str) -> None:
    """Validate a feature choice early, naming the config key in errors.

    Args:
        feature (str): One of :data:`FEATURES`.
        has_neck (bool): Whether a MIL neck is available.
        config_key (str): What sets ``feature``: ``Class.feature`` or a
            key path such as ``model.feature``.
    """
    owner, _, name = config_key.rpartition('.')
    check_choice(owner, name, feature, FEATURES)
    if feature == 'bag' and not has_neck:
        raise ValueError(f"{config_key}='bag' needs the MIL neck "
                         '(MILNeck config) that pooled the bag in '
                         'pre-training.')


def as_image_batch(inputs: Union[torch.Tensor,
                                 List[torch.Tensor]]) -> torch.Tensor:
    """The ``(B, 3, H, W)`` batch a data preprocessor returned.

    Preprocessors for multi-view inputs (e.g. ``SelfSupDataPreprocessor``)
    return a list of per-image ``(3, H, W)`` tensors when the dataloader uses
    ``pseudo_collate``; those are stacked.

    Args:
        inputs (Tensor | list[Tensor]): ``(B, 3, H, W)``, or ``B`` tensors
            ``(3, H, W)`` of one size.

    Returns:
        Tensor: ``(B, 3, H, W)``.
    """
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        return inputs
    if (isinstance(inputs, (list, tuple)) and inputs
            and all(isinstance(x, torch.Tensor) and x.dim() == 3
                    and x.shape == inputs[0].shape for x in inputs)):
        return torch.stack(list(inputs))
    shapes = ([tuple(x.shape) for x in inputs[:3]] if isinstance(
        inputs, (list, tuple)) else tuple(inputs.shape))
    raise ValueError(
        'Expected one batch of single images, (B, 3, H, W) or a list of '
        f'equally sized (3, H, W) tensors, got {shapes}. Use a test pipeline '
        'with one crop per image (Resize, CenterCrop, PackInputs).')


def image_features(backbone: nn.Module, neck: Optional[nn.Module],
                   images: torch.Tensor, feature: str) -> torch.Tensor:
    """Embed a batch of images into one vector each.

    Args:
        backbone (nn.Module): An mmpretrain backbone whose last output is
            ``(B, P + N, C)`` tokens (ViT with ``out_type='raw'``; ``P``
            prefix tokens, read from its ``num_extra_tokens``) or a
            ``(B, C, H, W)`` map (Swin, ResNet, ...).
        neck (nn.Module, optional): The :class:`MILNeck`; only
            ``feature='bag'`` uses it.
        images (Tensor): ``(B, 3, H, W)``, normalised.
        feature (str): ``'cls'`` (class token), ``'avg'`` (mean patch token
            or average-pooled map), ``'cls+avg'`` (their concatenation,
            ``2C`` wide, as in DINO's linear evaluation) or ``'bag'`` (the
            MIL bag embedding ``sum_i a_i z_i``).

    Returns:
        Tensor: ``(B, C)``, or ``(B, 2C)`` for ``'cls+avg'``; not normalised.
    """
    check_feature(feature, neck is not None, 'feature')
    outputs = backbone(images)
    if feature == 'bag':
        return neck(outputs).bag
    x = outputs[-1] if isinstance(outputs, (tuple, list)) else outputs
    if x.dim() == 4:
        if feature != 'avg':
            raise ValueError(
                f'feature={feature!r} needs a class token, but '
                f'{type(backbone).__name__} returns a feature map '
                f"{tuple(x.shape)}. Use feature='avg' or 'bag'.")
        return x.mean(dim=(2, 3))
    num_prefix = getattr(backbone, 'num_extra_tokens', None)
    if x.dim() != 3 or num_prefix is None:
        raise ValueError(
            f'{type(backbone).__name__} returns {tuple(x.shape)}; expected '
            '(B, C, H, W) maps or (B, 1 + N, C) tokens from a backbone with '
            "num_extra_tokens. For a VisionTransformer set out_type='raw'.")
    if feature != 'avg' and num_prefix < 1:
        raise ValueError(f'feature={feature!r} needs a class token, but '
                         f'{type(backbone).__name__} has none. Use '
                         "feature='avg' or 'bag'.")
    avg = x[:, num_prefix:].mean(dim=1)
    if feature == 'avg':
        return avg
    cls = x[:, 0]
    return cls if feature == 'cls' else torch.cat([cls, avg], dim=1)
