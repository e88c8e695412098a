"""A tiny CMD model (2-layer ViT at 32 px) and a multi-crop batch for tests."""
import numpy as np
import torch

import cmd_plugin  # noqa: F401
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from tiny_configs import TINY_MODELS

VIT = dict(type='VisionTransformer', out_type='raw',
           **TINY_MODELS['vit']['backbone'])
VIT['arch'] = {k: v for k, v in VIT['arch'].items() if k != '_delete_'}


def build(backbone=None, **head):
    cfg = dict(
        type='CMD',
        backbone=dict(VIT, **(backbone or {})),
        neck=dict(type='MILNeck', **TINY_MODELS['vit']['neck']),
        head=dict(type='CMDHead', **{**TINY_MODELS['vit']['head'], **head}))
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def loss_terms(losses):
    """The loss terms of ``CMD.loss``, without the ``diag/`` signals."""
    return {k: v for k, v in losses.items() if not k.startswith('diag/')}


def batch(num_images=2, num_local=3, global_size=32, local_size=16):
    """Random crops (2 global, ``num_local`` local) and their samples.

    The boxes (overlapping global crops, the second flipped; local crops
    inside both) scale with ``global_size``.
    """
    torch.manual_seed(0)
    inputs = [torch.randn(num_images, 3, global_size, global_size)
              for _ in range(2)]
    inputs += [torch.randn(num_images, 3, local_size, local_size)
               for _ in range(num_local)]
    scale = global_size / 32
    boxes = np.array([[0, 0, 40, 40], [8, 8, 48, 48]] +
                     [[10, 10, 30, 30]] * num_local, np.float32) * scale
    samples = []
    for _ in range(num_images):
        s = DataSample()
        s.set_metainfo(dict(
            crop_boxes=boxes,
            crop_flips=np.array([False, True] + [False] * num_local)))
        samples.append(s)
    return inputs, samples
