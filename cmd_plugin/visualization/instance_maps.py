"""Where a CMD network looks: its MIL weights and, for a ViT, the class
token's attention, for a batch of images.

Used by ``tools/visualize_mil.py`` (:mod:`cmd_plugin.apis.mil_figures`) and
the demo's report.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils.attention import MultiheadAttention


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
