import pytest
import torch
import torch.nn.functional as F

import cmd_plugin  # noqa: F401
from mmpretrain.registry import MODELS
from cmd_plugin.models.necks import TokenConcatNeck

TINY_VIT = dict(
    type='VisionTransformer',
    arch=dict(embed_dims=16, num_layers=3, num_heads=2,
              feedforward_channels=32),
    img_size=32, patch_size=8, out_type='raw', out_indices=[1, 2])


def test_concatenates_normalised_cls_tokens_and_average_patch():
    blocks = (torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    out, = TokenConcatNeck(num_blocks=2, avg_patch=True)(blocks)
    assert out.shape == (2, 24)
    normed = [F.layer_norm(b, (8, )) for b in blocks]
    assert torch.allclose(out[:, :8], normed[0][:, 0])
    assert torch.allclose(out[:, 8:16], normed[1][:, 0])
    assert torch.allclose(out[:, 16:], normed[1][:, 1:].mean(1))


def test_linear_probe_on_last_blocks_builds_and_runs():
    model = MODELS.build(
        dict(type='ImageClassifier', backbone=TINY_VIT,
             neck=dict(type='TokenConcatNeck', num_blocks=2, avg_patch=True),
             head=dict(type='LinearClsHead', num_classes=3, in_channels=48)))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_errors():
    with pytest.raises(ValueError, match='out_indices'):
        TokenConcatNeck(num_blocks=4)((torch.randn(2, 5, 8), ))
    with pytest.raises(ValueError, match='num_blocks'):
        TokenConcatNeck(num_blocks=0)
