"""Tiny overrides of the real configs, small enough for CPU tests."""
import uuid
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpretrain.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'


def tiny_pipeline(global_size: int = 32, local_size: int = 16,
                  num_local: int = 2) -> list:
    return [
        dict(type='LoadImageRobust', on_bad_image='skip'),
        dict(type='CMDMultiCrop', global_size=global_size,
             num_local=num_local, local_size=local_size),
        dict(type='PackInputs',
             meta_keys=['img_path', 'crop_boxes', 'crop_flips']),
    ]


def tiny_device_pipeline(size: int = 48) -> list:
    """The loader half of the device multi-crop path, tiny."""
    return [
        dict(type='LoadImageRobust', on_bad_image='skip'),
        dict(type='ResizeForDeviceCrops', size=size),
        dict(type='PackInputs', meta_keys=['img_path', 'ori_shape']),
    ]


TINY_MODELS = {
    'vit': dict(
        backbone=dict(
            arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2,
                      feedforward_channels=64),
            img_size=32, patch_size=8, drop_path_rate=0.0),
        neck=dict(in_channels=32, region_pool=1, attn_channels=16),
        head=dict(in_channels=32, num_prototypes=64, hidden_channels=32,
                  bottleneck_channels=16)),
    'swin': dict(
        backbone=dict(
            arch=dict(_delete_=True, embed_dims=8, depths=[1, 1, 1, 1],
                      num_heads=[1, 1, 1, 1]),
            img_size=64, window_size=2, drop_path_rate=0.0),
        neck=dict(in_channels=64, attn_channels=16),
        head=dict(in_channels=64, num_prototypes=64, hidden_channels=32,
                  bottleneck_channels=16)),
    'resnet': dict(
        backbone=dict(depth=18, base_channels=8, stem_channels=8),
        neck=dict(in_channels=64, attn_channels=16),
        head=dict(in_channels=64, num_prototypes=64, hidden_channels=32,
                  bottleneck_channels=16)),
}

BASE_CONFIGS = {
    'vit': 'cmd_vit-s_cub.py',
    'swin': 'cmd_swin-t_cub.py',
    'resnet': 'cmd_resnet50_cub.py',
}


def write_tiny_config(path: Path, arch: str, data_root: Path,
                      base: str = None, max_epochs: int = 1,
                      image_size: int = 32, extra: str = '',
                      device_aug: bool = False) -> Path:
    """Write a config inheriting a real one, shrunk to a tiny model.

    ``device_aug``: the crops are made by ``CMDMultiCropPreprocessor`` (the
    base defaults to ``cmd_vit-s_cub_device-aug.py``) at the same sizes.
    """
    if device_aug and base is None and arch == 'vit':
        base = 'cmd_vit-s_cub_device-aug.py'
    base = CONFIGS / (base or BASE_CONFIGS[arch])
    global_size = 64 if arch == 'swin' else image_size
    pipeline = tiny_pipeline(global_size, global_size // 2)
    preprocessor = ''
    if device_aug:
        pipeline = tiny_device_pipeline(global_size + global_size // 2)
        preprocessor = 'data_preprocessor = ' + repr(dict(
            _delete_=True, type='CMDMultiCropPreprocessor',
            mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            to_rgb=True, global_size=global_size,
            local_size=global_size // 2, num_local=2))
    text = f"""
_base_ = {str(base)!r}
model = {TINY_MODELS[arch]!r}
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root={str(data_root)!r},
                 pipeline={pipeline!r}))
{preprocessor}
train_cfg = dict(max_epochs={max_epochs})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=5))
randomness = dict(seed=0, deterministic=True)
# mmengine names the default scope after a one-second timestamp: runners
# built within the same second in one process would otherwise share it.
experiment_name = {path.stem + '_' + uuid.uuid4().hex[:8]!r}
{extra}
"""
    path.write_text(text)
    return path


def tiny_cmd_checkpoint(folder: Path, arch: str):
    """A tiny CMD config and a checkpoint whose teacher differs from its
    student, saved as mmengine's CheckpointHook lays it out."""
    config = write_tiny_config(folder / f'tiny_{arch}.py', arch,
                               folder / 'no_data')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    with torch.no_grad():
        for param in model.teacher.parameters():
            param.add_(0.5 * torch.randn_like(param))
    checkpoint = folder / f'{arch}.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': dict(epoch=1)},
               checkpoint)
    return config, checkpoint, model.eval()
