"""MultiCropSwinTransformer: ImageNet behaviour at 224 px, local crops run.

mmpretrain's Swin with ``pad_small_map=True`` (needed for 96-px crops) keeps
the shifted window on the 7x7 last stage of a 224-px crop, unlike the
original Swin that ImageNet weights come from. The wrapper must compute, at
its build size, exactly what mmpretrain's standard config computes with the
same weights, and still run smaller crops.
"""
import pytest
import torch

from cmd_plugin.models.backbones import MultiCropSwinTransformer, stage_windows
from mmpretrain.registry import MODELS

# Swin-T's stage layout (4 stages, 2 blocks each so that odd blocks shift)
# at a fraction of its width
ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])


def standard_swin(window_size, **kwargs):
    """mmpretrain's standard Swin config (pad_small_map=False)."""
    cfg = dict(type='SwinTransformer', arch=ARCH, img_size=224,
               window_size=window_size, drop_path_rate=0.0, **kwargs)
    if window_size == 14:  # the original Swin's 7x7 window on the 7x7 map
        cfg['stage_cfgs'] = [dict(), dict(), dict(), dict(window_size=7)]
    model = MODELS.build(cfg)
    model.eval()  # mmpretrain backbones' train() does not return self
    return model


@pytest.mark.parametrize('window_size, expected', [
    (7, [(7, True), (7, True), (7, True), (7, False)]),
    (14, [(14, True), (14, True), (14, False), (7, False)]),
])
def test_windows_decided_at_build_size(window_size, expected):
    assert stage_windows(224, 4, [window_size] * 4) == expected
    model = MultiCropSwinTransformer(arch=ARCH, window_size=window_size)
    assert model.stage_windows == expected
    shifts = [[block.attn.shift_size for block in stage.blocks]
              for stage in model.stages]
    assert shifts == [[0, w // 2] if s else [0, 0] for w, s in expected]


@pytest.mark.parametrize('window_size', [7, 14])
def test_same_output_as_the_standard_config_at_224(window_size):
    torch.manual_seed(0)
    model = MultiCropSwinTransformer(arch=ARCH, window_size=window_size,
                                     drop_path_rate=0.0)
    model.eval()
    standard = standard_swin(window_size)
    # the same weights: the state dicts have the same keys and shapes
    standard.load_state_dict(model.state_dict(), strict=True)
    padded = standard_swin(window_size, pad_small_map=True)
    padded.load_state_dict(model.state_dict(), strict=True)

    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        (out, ), (expected, ), (shifted, ) = model(x), standard(x), padded(x)
    assert out.shape == (2, 128, 7, 7)
    assert torch.equal(out, expected)
    # what pad_small_map=True alone computes differs (the shifted window on
    # the 7x7 stage): the comparison above can tell the two apart
    assert (shifted - expected).norm() / expected.norm() > 0.02


@pytest.mark.parametrize('window_size', [7, 14])
def test_local_crops_run(window_size):
    model = MultiCropSwinTransformer(arch=ARCH, window_size=window_size)
    model.train()
    x = torch.randn(2, 3, 96, 96, requires_grad=True)
    (out, ) = model(x)
    assert out.shape == (2, 128, 3, 3)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    # mmpretrain's standard config cannot run them at all
    with pytest.raises(AssertionError, match='pad_small_map=True'):
        standard_swin(window_size)(torch.randn(1, 3, 96, 96))


def test_pad_small_map_false_is_refused():
    with pytest.raises(ValueError, match='pad_small_map: must be True'):
        MultiCropSwinTransformer(arch=ARCH, pad_small_map=False)


def test_swin_t_config_builds_it():
    from mmengine.config import Config
    from tiny_configs import CONFIGS
    cfg = Config.fromfile(CONFIGS / 'cmd_swin-t_cub.py')
    assert cfg.model.backbone.type == 'MultiCropSwinTransformer'
    backbone = MODELS.build(cfg.model.backbone)
    assert backbone.stage_windows[-1] == (7, False)


def test_layer_norm_eps_reaches_every_layer_norm():
    model = MultiCropSwinTransformer(arch=ARCH, layer_norm_eps=1e-6)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    # patch embedding, 2 per block, 3 patch mergings, the output norm
    assert len(norms) == 1 + 2 * 8 + 3 + 1
    assert {m.eps for m in norms} == {1e-6}
    assert {m.eps for m in MultiCropSwinTransformer(arch=ARCH).modules()
            if isinstance(m, torch.nn.LayerNorm)} == {1e-5}
