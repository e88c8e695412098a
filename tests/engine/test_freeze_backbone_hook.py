"""FreezeBackboneHook and CustomKeysDecayConstructor (continued training)."""
import logging
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

import cmd_plugin  # noqa: F401
from cmd_plugin.engine.hooks import FreezeBackboneHook
from mmpretrain.registry import MODELS
from tiny_configs import CONFIGS
from tiny_models import batch, build

RESNET = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8)


def runner_for(model):
    return SimpleNamespace(model=model, logger=logging.getLogger('test'))


def test_frozen_parameters_and_bn_statistics_stay_bit_identical():
    model = MODELS.build(dict(
        type='CMD', backbone=RESNET,
        neck=dict(type='MILNeck', in_channels=64, attn_channels=16,
                  embedding='bag'),
        head=dict(type='CMDHead', in_channels=64, num_prototypes=64,
                  hidden_channels=32, bottleneck_channels=16)))
    model.init_weights()
    hook = FreezeBackboneHook(frozen_prefixes=['conv1', 'bn1', 'layer1'])
    runner = runner_for(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1,
                                  weight_decay=0.5)
    model.train()
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = [torch.randn(2, 3, 32, 32) for _ in range(2)]
    losses = model.loss(inputs, batch()[1])
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    optimizer.step()
    after = model.state_dict()
    frozen = [k for k in before
              if k.startswith(('backbone.conv1', 'backbone.bn1',
                               'backbone.layer1'))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    # BatchNorm statistics of both backbones are untouched, everywhere
    stats = [k for k in before if k.endswith(('running_mean', 'running_var',
                                              'num_batches_tracked'))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert all(not m.training for m in model.backbone.modules()
               if isinstance(m, nn.BatchNorm2d))
    # the rest learns
    assert not torch.equal(before['backbone.layer4.0.conv1.weight'],
                           after['backbone.layer4.0.conv1.weight'])


def test_unknown_prefix_is_named():
    model = build()
    with pytest.raises(ValueError, match="no backbone parameter starts with"):
        FreezeBackboneHook(frozen_prefixes=['nope']).before_train(
            runner_for(model))
    with pytest.raises(ValueError, match='frozen_prefixes'):
        FreezeBackboneHook(frozen_prefixes='layer1')


def test_backbone_norms_and_biases_get_no_weight_decay():
    """``custom_keys={'backbone': ...}`` keeps norm/bias_decay_mult = 0."""
    cfg = Config.fromfile(str(CONFIGS / 'cmd_effnet-lite0_cub.py'))
    cfg.model.backbone.update(model_name='test_efficientnet', init_cfg=None)
    cfg.model.neck.update(in_channels=256, attn_channels=16)
    cfg.model.head.update(in_channels=256, num_prototypes=64,
                          hidden_channels=32, bottleneck_channels=16)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(g['params'][0]): g for g in wrapper.optimizer.param_groups}
    norms = biases = weights = 0
    for module_name, module in model.backbone.named_modules():
        for name, param in module.named_parameters(recurse=False):
            group = groups[id(param)]
            assert group['lr'] == pytest.approx(0.1 * 5e-4)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                norms += 1
                assert group['weight_decay'] == 0, module_name
            elif name == 'bias':
                biases += 1
                assert group['weight_decay'] == 0, module_name
            else:
                weights += 1
                assert group['weight_decay'] == pytest.approx(0.04)
    assert norms > 10 and weights > 10
    # the head keeps mmengine's own rules
    head_bias = groups[id(model.head.projector.mlp[0].bias)]
    assert head_bias['weight_decay'] == 0
