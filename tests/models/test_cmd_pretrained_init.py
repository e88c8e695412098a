"""CMDPretrained: strict linear-probe initialisation from a CMD checkpoint."""
import pytest
import torch

from cmd_checkpoints import TINY_VIT, save_cmd_checkpoint
from cmd_plugin.models.utils import CMDPretrainedInit
from mmpretrain.registry import MODELS


def classifier(init_cfg=None, backbone_init_cfg=None, **backbone):
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                TINY_VIT,
                out_type='cls_token',
                init_cfg=backbone_init_cfg,
                **backbone),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            init_cfg=init_cfg))
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def cmd_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_3.pth'
    return path, save_cmd_checkpoint(path)


@pytest.mark.parametrize('network', ['teacher', 'student'])
def test_backbone_comes_from_the_chosen_network(cmd_ckpt, network):
    path, cmd = cmd_ckpt
    model = classifier(
        dict(type='CMDPretrained', checkpoint=str(path), network=network))
    source = cmd.teacher.backbone if network == 'teacher' else cmd.backbone
    expected = source.state_dict()
    # pos_embed included: the backbone's own init_weights must not run after
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)
    # the head is still initialised by init_weights, and can be trained
    assert model.head.fc.weight.abs().sum() > 0


def test_backbone_only_checkpoint(cmd_ckpt, tmp_path):
    _, cmd = cmd_ckpt
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': cmd.teacher.backbone.state_dict()}, path)
    model = classifier(dict(type='CMDPretrained', checkpoint=str(path)))
    torch.testing.assert_close(model.backbone.cls_token,
                               cmd.teacher.backbone.cls_token)


def test_mismatched_backbone_names_keys_and_config(cmd_ckpt):
    path, _ = cmd_ckpt
    with pytest.raises(ValueError) as info:
        classifier(
            dict(type='CMDPretrained', checkpoint=str(path)),
            arch=dict(TINY_VIT['arch'], num_layers=3))
    message = str(info.value)
    assert "missing keys 'layers.2.ln1.weight'" in message
    assert "'teacher.backbone.*'" in message
    assert 'init_cfg.checkpoint' in message


def test_refuses_the_backbone_init_cfg(cmd_ckpt):
    path, _ = cmd_ckpt
    with pytest.raises(TypeError, match='to model.init_cfg'):
        classifier(backbone_init_cfg=dict(
            type='CMDPretrained', checkpoint=str(path)))


def test_unknown_network():
    with pytest.raises(ValueError, match="CMDPretrainedInit.network: unknown "
                       "value 'ema'"):
        CMDPretrainedInit(checkpoint='x.pth', network='ema')
