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


def batch(num_images=2, num_local=3):
    torch.manual_seed(0)
    inputs = [torch.randn(num_images, 3, 32, 32) for _ in range(2)]
    inputs += [torch.randn(num_images, 3, 16, 16) for _ in range(num_local)]
    samples = []
    for _ in range(num_images):
        s = DataSample()
        s.set_metainfo(dict(
            crop_boxes=np.array([[0, 0, 40, 40], [8, 8, 48, 48]] +
                                [[10, 10, 30, 30]] * num_local, np.float32),
            crop_flips=np.array([False, True] + [False] * num_local)))
        samples.append(s)
    return inputs, samples
