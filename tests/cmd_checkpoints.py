"""A tiny CMD pre-training model and its checkpoint, for evaluation tests."""
from pathlib import Path

import torch

import cmd_plugin  # noqa: F401
from mmpretrain.registry import MODELS
from tiny_configs import TINY_MODELS

TINY_VIT = dict(
    type='VisionTransformer',
    out_type='raw',
    **{
        **TINY_MODELS['vit']['backbone'], 'arch': {
            k: v
            for k, v in TINY_MODELS['vit']['backbone']['arch'].items()
            if k != '_delete_'
        }
    })
TINY_NECK = dict(type='MILNeck', **TINY_MODELS['vit']['neck'])
TINY_HEAD = dict(type='CMDHead', **TINY_MODELS['vit']['head'])


def build_tiny_cmd(seed: int = 0) -> torch.nn.Module:
    """A tiny ViT CMD model whose teacher differs from its student."""
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(type='CMD', backbone=TINY_VIT, neck=TINY_NECK, head=TINY_HEAD))
    model.init_weights()
    with torch.no_grad():
        for param in model.teacher.parameters():
            param.add_(torch.randn_like(param))
    return model


def save_cmd_checkpoint(path: Path, seed: int = 0) -> torch.nn.Module:
    """Save a tiny CMD model the way mmengine's CheckpointHook lays it out."""
    model = build_tiny_cmd(seed)
    torch.save({'state_dict': model.state_dict(),
                'meta': dict(epoch=3, iter=30)}, path)
    return model
