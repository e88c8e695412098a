"""MILNeck values: gated-attention weights, the bag and each image embedding,
recomputed by hand in float64 from the neck's own parameters."""
import math

import pytest
import torch

from cmd_plugin.models.necks import MILNeck

C, HIDDEN = 6, 5


def gated_weights(neck, regions):
    """``a_i = softmax_i(w^T (tanh(V z_i) * sigmoid(U z_i)) + b)``, as
    Python floats, one list per crop."""
    V = neck.attn_tanh.weight.double().tolist()
    v0 = neck.attn_tanh.bias.double().tolist()
    U = neck.attn_sigmoid.weight.double().tolist()
    u0 = neck.attn_sigmoid.bias.double().tolist()
    w = neck.attn_score.weight.double()[0].tolist()
    w0 = neck.attn_score.bias.double().item()
    out = []
    for crop in regions.double().tolist():
        scores = []
        for z in crop:
            score = w0
            for h in range(len(w)):
                pre_t = v0[h] + sum(V[h][c] * z[c] for c in range(len(z)))
                pre_s = u0[h] + sum(U[h][c] * z[c] for c in range(len(z)))
                gate = math.tanh(pre_t) / (1 + math.exp(-pre_s))
                score += w[h] * gate
            scores.append(score)
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        out.append([e / sum(exps) for e in exps])
    return out


def weighted_sum(weights, regions):
    """``sum_i a_i z_i`` per crop, as Python floats."""
    return [[sum(a * z[c] for a, z in zip(crop_w, crop_z))
             for c in range(len(crop_z[0]))]
            for crop_w, crop_z in zip(weights, regions.double().tolist())]


def randomised(neck, seed=0):
    """The neck with large random attention parameters (non-uniform
    weights, unlike a fresh init whose scores are nearly equal)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in neck.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return neck


@pytest.mark.parametrize('shape, grid', [
    ((3, C, 2, 3), (2, 3)),    # a CNN / Swin feature map
    ((3, 1 + 16, C), (2, 2)),  # ViT tokens: cls + 4x4 patches, pooled 2x2
])
def test_weights_and_bag_match_the_hand_computation(shape, grid):
    feats = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    neck = randomised(MILNeck(C, attn_channels=HIDDEN, embedding='bag'))
    out = neck((feats, ))
    assert out.grid == grid
    expected_weights = gated_weights(neck, out.regions)
    assert out.weights.tolist() == [pytest.approx(row, rel=1e-5, abs=1e-7)
                                    for row in expected_weights]
    # the weights are far from uniform, so a plain mean would fail below
    n = grid[0] * grid[1]
    assert (out.weights - 1 / n).abs().max() > 0.1
    bag = weighted_sum(expected_weights, out.regions)
    assert out.bag.tolist() == [pytest.approx(row, rel=1e-5, abs=1e-6)
                                for row in bag]
    assert torch.equal(out.image, out.bag)


def test_each_embedding_choice():
    tokens = torch.randn(2, 1 + 9, C,  # cls + 3x3 patches
                         generator=torch.Generator().manual_seed(2))
    necks = {
        embedding: randomised(
            MILNeck(C, attn_channels=HIDDEN, embedding=embedding,
                    region_pool=1), seed=3)
        for embedding in ('cls', 'bag', 'cls+bag')
    }
    outs = {name: neck((tokens, )) for name, neck in necks.items()}
    cls = tokens[:, 0].double().tolist()
    bag = weighted_sum(gated_weights(necks['bag'], tokens[:, 1:]),
                       tokens[:, 1:])
    expected = {
        'cls': cls,
        'bag': bag,
        'cls+bag': [[c + b for c, b in zip(rc, rb)]
                    for rc, rb in zip(cls, bag)],
    }
    for name, out in outs.items():
        assert out.image.tolist() == [
            pytest.approx(row, rel=1e-5, abs=1e-6) for row in expected[name]
        ], name
        # every choice returns the same regions, weights, bag and cls
        assert torch.equal(out.regions, tokens[:, 1:])
        assert torch.equal(out.cls, tokens[:, 0])
        assert torch.allclose(out.bag, outs['bag'].bag)


def test_uniform_attention_bag_is_the_mean_of_the_regions():
    fmap = torch.randn(2, C, 3, 3, generator=torch.Generator().manual_seed(4))
    out = MILNeck(C, attention='none', embedding='bag')((fmap, ))
    mean = fmap.double().flatten(2).mean(-1)
    assert torch.allclose(out.bag.double(), mean, atol=1e-6)
