"""``--format esvit``: EsViT's Swin checkpoints into mmpretrain's Swin.

The source state dicts have the key names and shapes of EsViT's Swin
(``tests/esvit_checkpoints.py``), built in the tests, never downloaded.
"""
import pytest
import torch
import torch.nn.functional as F

from cmd_plugin.utils.checkpoint_conversion import (
    convert_esvit_swin, convert_state_dict, esvit_backbone_cfg,
    reference_backbone_cfg, unfold_merge_order)
from esvit_checkpoints import DEPTHS, EMBED, HEADS, esvit_swin_state_dict
from mmpretrain.registry import MODELS


def build_target(source, **overrides):
    cfg = esvit_backbone_cfg(source)
    cfg.update(drop_path_rate=0.0, **overrides)
    return MODELS.build(cfg)


@pytest.mark.parametrize('window', [7, 14])
def test_round_trip_loads_strictly(window):
    source = esvit_swin_state_dict(window)
    cfg = esvit_backbone_cfg(source)
    assert cfg['window_size'] == window
    assert cfg['arch'] == dict(embed_dims=EMBED, depths=list(DEPTHS),
                               num_heads=list(HEADS))
    assert cfg['layer_norm_eps'] == 1e-6
    model = build_target(source)
    converted = convert_state_dict(source, 'esvit', model.state_dict())
    model.load_state_dict(converted, strict=True)

    expected_names = {
        'patch_embed.proj.weight': 'patch_embed.projection.weight',
        'patch_embed.norm.bias': 'patch_embed.norm.bias',
        'layers.0.blocks.1.norm1.weight': 'stages.0.blocks.1.norm1.weight',
        'layers.2.blocks.0.attn.relative_position_bias_table':
        'stages.2.blocks.0.attn.w_msa.relative_position_bias_table',
        'layers.3.blocks.1.attn.qkv.weight':
        'stages.3.blocks.1.attn.w_msa.qkv.weight',
        'layers.1.blocks.0.attn.proj.bias':
        'stages.1.blocks.0.attn.w_msa.proj.bias',
        'layers.1.blocks.1.norm2.bias': 'stages.1.blocks.1.norm2.bias',
        'layers.2.blocks.1.mlp.fc1.weight':
        'stages.2.blocks.1.ffn.layers.0.0.weight',
        'layers.0.blocks.0.mlp.fc2.bias':
        'stages.0.blocks.0.ffn.layers.1.bias',
        'norm.weight': 'norm3.weight',
    }
    state = model.state_dict()
    for src_key, dst_key in expected_names.items():
        assert torch.equal(state[dst_key], source[src_key]), src_key
    for i in range(3):
        for leaf in ('reduction.weight', 'norm.weight', 'norm.bias'):
            assert torch.equal(
                state[f'stages.{i}.downsample.{leaf}'],
                unfold_merge_order(source[f'layers.{i}.downsample.{leaf}']))
    # the relative position tables keep EsViT's sizes: for window 14, 27x27
    # rows where the map is larger than 14, 13x13 in the 7x7 last stage
    rows = [state[f'stages.{i}.blocks.0.attn.w_msa.relative_position_bias_'
                  'table'].shape[0] for i in range(4)]
    assert rows == ([169] * 4 if window == 7 else [729, 729, 729, 169])
    # mmpretrain's relative position index is the original Swin's
    for key, value in source.items():
        if key.endswith('relative_position_index'):
            dst = key.replace('layers', 'stages').replace('attn.',
                                                          'attn.w_msa.')
            assert torch.equal(state[dst], value), key
    # every tensor but EsViT's two heads (12 tensors) arrives
    assert len(converted) == len(source) - 12
    assert not any(k.startswith('head') for k in converted)


@pytest.mark.parametrize('prefix',
                         ['module.', 'backbone.', 'module.backbone.'])
def test_wrapper_prefixes_are_stripped(prefix):
    plain = esvit_swin_state_dict(7)
    reference = build_target(plain).state_dict()
    converted = convert_state_dict(esvit_swin_state_dict(7, prefix), 'esvit',
                                   reference)
    expected = convert_state_dict(plain, 'esvit', reference)
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[k], expected[k]) for k in expected)


def test_patch_merging_matches_the_original_order():
    source = esvit_swin_state_dict(7)
    model = build_target(source)
    model.load_state_dict(
        convert_state_dict(source, 'esvit', model.state_dict()))
    # EsViT's PatchMerging: pixels (0,0), (1,0), (0,1), (1,1) concatenated,
    # LayerNorm(eps=1e-6), then a linear map without bias
    x = torch.randn(2, 8, 8, EMBED)
    parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
             x[:, 1::2, 1::2]]
    merged = torch.cat(parts, -1).reshape(2, -1, 4 * EMBED)
    merged = F.layer_norm(merged, (4 * EMBED, ),
                          source['layers.0.downsample.norm.weight'],
                          source['layers.0.downsample.norm.bias'], eps=1e-6)
    expected = merged @ source['layers.0.downsample.reduction.weight'].t()
    with torch.no_grad():
        out, shape = model.stages[0].downsample(x.reshape(2, 64, EMBED),
                                                (8, 8))
    assert shape == (4, 4)
    torch.testing.assert_close(out, expected)


def test_another_window_is_an_error():
    target = build_target(esvit_swin_state_dict(7)).state_dict()
    with pytest.raises(ValueError, match='relative position indices differ'):
        convert_esvit_swin(esvit_swin_state_dict(14), target)
    source = esvit_swin_state_dict(14)
    source = {k: v for k, v in source.items()
              if not k.endswith('relative_position_index')}
    with pytest.raises(ValueError, match=r'shape mismatches .*relative_'
                       r'position_bias_table: \(729, 1\) vs target '
                       r'\(169, 1\)'):
        convert_state_dict(source, 'esvit', target)


def test_unknown_keys_are_named():
    source = esvit_swin_state_dict(7)
    source['absolute_pos_embed'] = torch.zeros(1, 3136, EMBED)
    with pytest.raises(ValueError, match="Unrecognised EsViT Swin keys: "
                       "'absolute_pos_embed'"):
        convert_state_dict(source, 'esvit',
                           build_target(esvit_swin_state_dict(7)).state_dict())
    with pytest.raises(ValueError, match='Not an EsViT Swin state dict'):
        esvit_backbone_cfg({'cls_token': torch.zeros(1, 1, 8)})


def test_released_swin_t_is_the_tiny_arch():
    assert reference_backbone_cfg('esvit')['arch'] == 'tiny'
    cfg = esvit_backbone_cfg(None)
    assert (cfg['type'], cfg['window_size']) == ('MultiCropSwinTransformer', 7)


@pytest.mark.parametrize('window', [7, 14])
def test_same_features_as_an_independent_swin(window):
    """timm's Swin (the original Swin's computation) in EsViT's key layout,
    converted, gives the same features at 224 px, and 96 px runs."""
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    reference = timm.models.swin_transformer.SwinTransformer(
        img_size=224, embed_dim=EMBED, depths=DEPTHS, num_heads=HEADS,
        window_size=window, num_classes=0).eval()
    with torch.no_grad():  # non-trivial norms and position biases
        for name, p in reference.named_parameters():
            if 'norm' in name or 'relative_position' in name:
                is_scale = 'norm' in name and name.endswith('weight')
                p.normal_(mean=1.0 if is_scale else 0.0, std=0.2)
    # timm puts stage i's patch merging at the start of stage i + 1 and keeps
    # the relative position index out of its state dict; EsViT does neither
    source = {}
    for key, value in reference.state_dict().items():
        if '.downsample.' in key:
            stage = int(key.split('.')[1])
            key = key.replace(f'layers.{stage}.', f'layers.{stage - 1}.', 1)
        source[key] = value
    for i, layer in enumerate(reference.layers):
        for j, block in enumerate(layer.blocks):
            source[f'layers.{i}.blocks.{j}.attn.relative_position_index'] = \
                block.attn.relative_position_index
    # timm's LayerNorm has eps 1e-5 (EsViT's 1e-6)
    model = build_target(source, layer_norm_eps=1e-5)
    model.load_state_dict(
        convert_state_dict(source, 'esvit', model.state_dict()), strict=True)
    model.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = reference.forward_features(x).permute(0, 3, 1, 2)
        (out, ) = model(x)
        (local, ) = model(torch.randn(2, 3, 96, 96))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    assert local.shape == (2, EMBED * 8, 3, 3)
