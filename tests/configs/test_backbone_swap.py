"""Swapping model.backbone takes one key: the neck's and head's width and
the image embedding are read from the backbone (cmd_plugin.models.utils.
backbone_probe), explicit values win and are checked."""
import pytest
import torch
from mmengine.config import Config

from cmd_plugin.apis.config_checks import check_config
from cmd_plugin.utils.validation import ConfigError
from mmpretrain.registry import MODELS
from tiny_configs import CONFIGS, TINY_MODELS

TINY_RESNET = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8)
TINY_HEAD = dict(num_prototypes=16, hidden_channels=16,
                 bottleneck_channels=8)


def swapped(base: str, backbone: dict, **model) -> Config:
    """``base`` with only ``model.backbone`` replaced (and a small head,
    whose sizes do not depend on the backbone)."""
    cfg = Config.fromfile(CONFIGS / base)
    cfg.model.backbone = backbone
    cfg.merge_from_dict(dict(model=model))
    cfg.model.head.update(TINY_HEAD)
    return cfg


def test_a_cnn_on_the_vit_config(tmp_path):
    cfg = swapped('cmd_vit-s_cub.py', TINY_RESNET)
    check_config(cfg)  # no "in_channels: required" problem
    model = MODELS.build(cfg.model)
    assert model.neck.in_channels == 64  # the last stage of the tiny ResNet
    assert model.neck.embedding == 'bag'  # no class token
    assert model.head.projector.mlp[0].in_features == 64
    assert model.teacher.neck.in_channels == 64
    # it trains: one loss on two global and two local crops
    crops = [torch.randn(2, 3, 64, 64)] * 2 + [torch.randn(2, 3, 32, 32)] * 2
    losses = model.loss(crops, [])
    assert torch.isfinite(losses['loss_inter'])


def test_a_vit_keeps_its_class_token():
    vit = dict(TINY_MODELS['vit']['backbone'], type='VisionTransformer',
               out_type='raw')
    model = MODELS.build(swapped('cmd_resnet50_cub.py',
                                 vit).model)
    assert model.neck.in_channels == 32 and model.neck.embedding == 'cls'


def test_a_pooled_backbone_names_the_key_to_change():
    cfg = swapped('cmd_resnet50_cub.py',
                  dict(type='ConvNeXt', arch='atto'))
    with pytest.raises(ConfigError) as error:
        MODELS.build(cfg.model)
    assert str(error.value) == (
        'model.backbone: ConvNeXt returns (1, 320), a pooled vector; CMD '
        'weighs the regions of a feature map (B, C, H, W) or of patch '
        'tokens (B, 1 + N, C). Set '
        'model.backbone.gap_before_final_norm=False.')


def test_explicit_values_win_and_are_checked():
    cfg = swapped('cmd_vit-s_cub.py', TINY_RESNET,
                  neck=dict(in_channels=48, embedding='cls'))
    with pytest.raises(ConfigError) as error:
        MODELS.build(cfg.model)
    assert str(error.value).splitlines() == [
        'model.neck.in_channels: 48, but model.backbone returns 64 '
        "channels; remove the key to use the backbone's width.",
        "model.neck.embedding='cls' needs a class token, but model.backbone "
        "(ResNet) returns none; set it to 'bag' or remove the key.",
    ]


def test_evaluation_configs_infer_the_neck_too():
    cfg = Config.fromfile(CONFIGS / 'benchmarks' / 'knn_vit-s_cub.py')
    cfg.model.backbone = TINY_RESNET
    cfg.model.feature = 'bag'
    model = MODELS.build(cfg.model)
    assert model.neck.in_channels == 64 and model.neck.embedding == 'bag'
