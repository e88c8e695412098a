"""Every trainable parameter of every shipped pre-training model gets a
gradient in one step, the frozen prototypes of the first epoch included.

That is what lets the runtime build DDP with ``find_unused_parameters=False``
(``configs/_base_/default_runtime.py``): DDP then expects a gradient for
every parameter it was built with, and a parameter without one would stop
the run at the next iteration. Each config's model is built with its own
options (backbone type and settings, neck, head, losses) at a small width
(:data:`NARROW`) and runs on small crops.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

ROOT = Path(__file__).resolve().parents[2]
PRETRAINING = sorted(
    p for p in (ROOT / 'configs').rglob('*.py')
    if '_base_' not in p.parts and 'benchmarks' not in p.parts
    and Config.fromfile(p).model.get('type') == 'CMD')


def small_batch(global_size=64, local_size=32, num_images=2):
    torch.manual_seed(0)
    inputs = [torch.randn(num_images, 3, global_size, global_size)
              for _ in range(2)]
    inputs += [torch.randn(num_images, 3, local_size, local_size)
               for _ in range(2)]
    boxes = np.array([[0, 0, 60, 60], [10, 10, 70, 70], [20, 20, 40, 40],
                      [30, 30, 50, 50]], np.float32)
    samples = []
    for _ in range(num_images):
        sample = DataSample()
        sample.set_metainfo(dict(crop_boxes=boxes, crop_flips=np.array(
            [False, True, False, True])))
        samples.append(sample)
    return inputs, samples


#: Narrower widths per backbone type; every other option stays the config's.
NARROW = {
    'VisionTransformer': dict(arch=dict(embed_dims=32, num_layers=2,
                                        num_heads=2, feedforward_channels=64)),
    'MultiCropSwinTransformer': dict(arch=dict(
        embed_dims=8, depths=[2, 2, 2, 2], num_heads=[1, 1, 1, 1])),
    'ResNet': dict(base_channels=8, stem_channels=8),
}
NARROW_NECK = dict(attn_channels=16)
NARROW_HEAD = dict(num_prototypes=64, hidden_channels=32,
                   bottleneck_channels=16)


def narrow(model):
    """``model`` at a small width, without pretrained weights."""
    model = model.to_dict()
    backbone = model['backbone']
    backbone.pop('init_cfg', None)  # no pretrained file needed
    backbone.update(NARROW.get(backbone['type'], {}))
    for part in ('neck', 'head'):
        model[part].pop('in_channels', None)  # read from the backbone
    model['neck'].update(NARROW_NECK)
    model['head'].update(NARROW_HEAD)
    return model


def model_configs():
    """The distinct models of the shipped pre-training configs."""
    seen, params = set(), []
    for path in PRETRAINING:
        model = narrow(Config.fromfile(path).model)
        key = repr(model)
        if key not in seen:
            seen.add(key)
            params.append(pytest.param(
                model, id=str(path.relative_to(ROOT / 'configs'))))
    return params


def test_the_shipped_pretraining_configs_are_found():
    names = {p.name for p in PRETRAINING}
    assert {'cmd_vit-s_cub.py', 'dino_vit-s_cub.py', 'cmd_swin-t_cub.py',
            'cmd_swin-t_cub_esvit-init.py', 'cmd_resnet50_cub.py',
            'cmd_effnet-lite0_cub.py'} <= names


@pytest.mark.parametrize('model_cfg', model_configs())
def test_every_parameter_gets_a_gradient(model_cfg):
    model = MODELS.build(model_cfg)
    model.train()
    inputs, samples = small_batch()
    for frozen in (True, False):
        model.head.projector.freeze_prototypes = frozen
        model.zero_grad(set_to_none=True)
        losses = model.loss(inputs, samples)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        missing = [name for name, p in model.named_parameters()
                   if p.requires_grad and p.grad is None]
        assert missing == [], f'frozen={frozen}: {missing[:5]}'
        grad = model.head.projector.prototypes.grad
        assert (grad.abs().sum() == 0) == frozen
