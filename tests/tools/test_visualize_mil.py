"""tools/visualize_mil.py on tiny CMD checkpoints (ViT, Swin, ResNet)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmpretrain.registry import MODELS
from tiny_configs import write_tiny_config
from tool_scripts import load_tool

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope='module')
def viz():
    return load_tool('visualize_mil')


def tiny_cmd(folder: Path, arch: str):
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


@pytest.fixture(scope='module')
def tiny_vit(tmp_path_factory):
    return tiny_cmd(tmp_path_factory.mktemp('vit'), 'vit')


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    paths = []
    for name, shape in (('wide', (40, 70, 3)), ('square', (32, 32, 3))):
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f'{name}.jpg')
        paths.append(str(folder / f'{name}.jpg'))
    return paths


@pytest.mark.parametrize('arch, panels', [('vit', 3), ('swin', 2),
                                          ('resnet', 2)])
def test_one_figure_per_image(viz, arch, panels, images, tmp_path):
    config, checkpoint, _ = tiny_cmd(tmp_path, arch)
    out = tmp_path / 'out'
    written = viz.main([str(config), str(checkpoint), '--images', *images,
                        '--out', str(out)])
    assert [p.name for p in written] == ['wide.png', 'square.png']
    for path in written:
        with Image.open(path) as figure:
            assert figure.format == 'PNG'
            # image + MIL weights (+ cls attention for the ViT), 2.2 in
            # each, and the colorbar
            assert figure.width == pytest.approx(220 * panels + 110, abs=2)


def test_a_uniform_mil_neck_gets_no_mil_panel(viz, images, tmp_path):
    """The DINO baseline (attention='none'): its MIL weights are uniform by
    construction, so only what it has is drawn (the ViT's cls attention)
    and the title says why."""
    config = write_tiny_config(
        tmp_path / 'tiny_dino.py', 'vit', tmp_path / 'no_data',
        extra="model = dict(neck=dict(attention='none'), head=dict("
        'reg_weight=0.0, inter_weight=0.0))')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    checkpoint = tmp_path / 'dino.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    written = viz.main([str(config), str(checkpoint), '--images',
                        images[0], '--out', str(tmp_path / 'out')])
    with Image.open(written[0]) as figure:
        assert figure.width == pytest.approx(220 * 2 + 110, abs=2)


def test_maps_come_from_the_chosen_network(viz, tiny_vit):
    _, _, model = tiny_vit
    images = torch.randn(2, 3, 32, 32)
    teacher = viz.instance_maps(*viz.network_modules(model, 'teacher'),
                                images)
    student = viz.instance_maps(*viz.network_modules(model, 'student'),
                                images)
    with torch.no_grad():
        expected = model.teacher.neck(model.teacher.backbone(images))
    # tiny ViT: 32 px / patch 8 = 4x4 patches, region_pool=1
    torch.testing.assert_close(teacher.mil, expected.weights.reshape(2, 4, 4))
    assert teacher.cls_attention.shape == (2, 4, 4)
    for maps in (teacher.mil, teacher.cls_attention):
        torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.ones(2))
    assert not torch.allclose(teacher.mil, student.mil)
    assert not torch.allclose(teacher.cls_attention, student.cls_attention)


def test_cls_attention_reproduces_the_block_output(viz, tiny_vit):
    """Attention rows times the values give the attention's cls output."""
    _, _, model = tiny_vit
    backbone = model.teacher.backbone
    attn = backbone.layers[-1].attn
    seen = {}
    handles = [
        attn.qkv.register_forward_hook(
            lambda m, a, out: seen.update(qkv=out)),
        attn.proj.register_forward_hook(
            lambda m, a, out: seen.update(heads=a[0])),
    ]
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad(), viz.capture_cls_attention(backbone) as record:
        backbone(images)
    for handle in handles:
        handle.remove()
    batch, tokens, _ = seen['qkv'].shape
    values = seen['qkv'].reshape(batch, tokens, 3, attn.num_heads,
                                 attn.head_dims)[:, :, 2].transpose(1, 2)
    attention = record['attention']  # (B, heads, N)
    assert attention.shape == (3, attn.num_heads, tokens)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 2))
    expected = torch.einsum('bhn,bhnd->bhd', attention, values)
    torch.testing.assert_close(
        seen['heads'][:, 0].reshape(3, attn.num_heads, attn.head_dims),
        expected)
    assert record['grid'] == (4, 4)
    # the hooks are gone afterwards
    assert not attn.qkv._forward_hooks


def test_bad_inputs_name_the_problem(viz, tiny_vit, images, tmp_path):
    config, checkpoint, _ = tiny_vit
    # a user error: exit status 2, the message names the argument
    with pytest.raises(SystemExit, match='--images: .*missing.png') as info:
        viz.main([str(config), str(checkpoint), '--images',
                  str(tmp_path / 'missing.png'), '--out', str(tmp_path)])
    assert info.value.code == 2
    with pytest.raises(ValueError, match='distinct names'):
        viz.visualize(str(config), str(checkpoint), [images[0], images[0]],
                      str(tmp_path))
    eval_config = ROOT / 'configs' / 'demo' / \
        'eval_resnet-mini_synthetic.py'
    with pytest.raises(TypeError, match='needs a CMD pre-training config'):
        viz.visualize(str(eval_config), str(checkpoint), images[:1],
                      str(tmp_path))
    resnet_config = write_tiny_config(tmp_path / 'tiny_resnet.py', 'resnet',
                                      tmp_path)
    with pytest.raises(RuntimeError, match='missing keys'):
        viz.visualize(str(resnet_config), str(checkpoint), images[:1],
                      str(tmp_path))
