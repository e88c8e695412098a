import pytest
import torch

from cmd_plugin.models.necks import MILNeck


def test_weights_sum_to_one_and_vit_pooling():
    neck = MILNeck(in_channels=8, region_pool=2)
    tokens = torch.randn(3, 1 + 16, 8)  # cls + 4x4 patches
    out = neck((tokens, ))
    assert out.regions.shape == (3, 4, 8) and out.grid == (2, 2)
    assert torch.allclose(out.weights.sum(-1), torch.ones(3))
    assert torch.equal(out.image, tokens[:, 0])
    # the first pooled region is the mean of the top-left 2x2 patches
    patches = tokens[:, 1:].reshape(3, 4, 4, 8)
    assert torch.allclose(out.regions[:, 0], patches[:, :2, :2].mean((1, 2)),
                          atol=1e-6)


def test_bag_is_invariant_to_instance_permutation():
    neck = MILNeck(in_channels=8, embedding='bag')
    regions = torch.randn(2, 6, 8)
    weights = neck.instance_weights(regions)
    bag = torch.einsum('bn,bnc->bc', weights, regions)
    perm = torch.randperm(6)
    weights_p = neck.instance_weights(regions[:, perm])
    assert torch.allclose(weights_p, weights[:, perm], atol=1e-6)
    assert torch.allclose(
        torch.einsum('bn,bnc->bc', weights_p, regions[:, perm]), bag,
        atol=1e-6)


def test_feature_maps_and_embeddings():
    fmap = torch.randn(2, 8, 3, 3)
    out = MILNeck(in_channels=8, embedding='bag')((fmap, ))
    assert out.regions.shape == (2, 9, 8) and out.cls is None
    assert torch.allclose(out.image, out.bag)
    uniform = MILNeck(in_channels=8, attention='none', embedding='bag')
    assert torch.allclose(uniform((fmap, )).weights, torch.full((2, 9), 1 / 9))
    assert not list(uniform.parameters())
    tokens = torch.randn(2, 10, 8)
    summed = MILNeck(8, embedding='cls+bag', region_pool=1)((tokens, ))
    assert torch.allclose(summed.image, summed.cls + summed.bag)


def test_errors_name_the_config_key():
    with pytest.raises(ValueError, match='Valid choices'):
        MILNeck(in_channels=8, embedding='mean')
    with pytest.raises(ValueError, match="out_type='raw'"):
        MILNeck(in_channels=8)((torch.randn(2, 8), ))  # cls_token only
    with pytest.raises(ValueError, match='model.neck.embedding'):
        MILNeck(in_channels=8)((torch.randn(2, 8, 3, 3), ))
    with pytest.raises(ValueError, match='model.neck.in_channels'):
        MILNeck(in_channels=4, embedding='bag')((torch.randn(2, 8, 3, 3), ))
