"""The diag/ training-health signals against hand computations."""
import math

import pytest
import torch

from cmd_plugin.models.utils.training_diagnostics import (
    effective_regions, entropy, entropy_of_log, matched_entropy,
    prototype_usage, relative_distance)
from tiny_models import batch, build


def test_entropy_of_one_hot_and_uniform():
    one_hot = torch.eye(8)[[3, 5]]
    assert torch.equal(entropy(one_hot), torch.zeros(2))
    uniform = torch.full((2, 8), 1 / 8)
    assert torch.allclose(entropy(uniform), torch.full((2,), math.log(8)))
    p = torch.tensor([0.5, 0.25, 0.25])
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert entropy(p).item() == pytest.approx(expected, rel=1e-6)
    assert entropy_of_log(p.log()).item() == pytest.approx(expected,
                                                           rel=1e-6)


def test_effective_regions():
    assert torch.allclose(effective_regions(torch.full((3, 49), 1 / 49)),
                          torch.full((3,), 49.0))
    assert effective_regions(torch.eye(9)[4]).item() == pytest.approx(1.0)
    # half the mass on each of two regions -> two effective regions
    two = torch.tensor([0.5, 0.5, 0.0, 0.0])
    assert effective_regions(two).item() == pytest.approx(2.0)


def test_prototype_usage_counts_distinct_argmax():
    probs = torch.zeros(2, 3, 10)
    winners = torch.tensor([[1, 1, 4], [4, 7, 1]])
    probs.scatter_(-1, winners.unsqueeze(-1), 1.0)
    assert prototype_usage(probs).item() == pytest.approx(3 / 10)


def test_relative_distance():
    a = [torch.ones(3), torch.zeros(2, 2)]
    assert relative_distance(a, a).item() == 0
    b = [torch.ones(3) * 2, torch.ones(2, 2)]
    # ||a - b|| = sqrt(3 + 4), ||b|| = sqrt(12 + 4)
    assert relative_distance(a, b).item() == pytest.approx(
        math.sqrt(7) / math.sqrt(16))


def test_matched_entropy_is_the_weighted_gather():
    torch.manual_seed(0)
    h = torch.rand(2, 3, 4)  # (T, B, M)
    index = torch.randint(0, 4, (2, 5, 3, 6))  # (T, S, B, N)
    weight = torch.rand(2, 5, 3, 6)
    got = matched_entropy(h, index, weight)
    for t in range(2):
        for s in range(5):
            for b in range(3):
                expected = sum(weight[t, s, b, i] * h[t, b, index[t, s, b, i]]
                               for i in range(6))
                assert got[t, s, b].item() == pytest.approx(expected.item(),
                                                            rel=1e-5)


def test_cmd_diagnostics_match_their_definitions():
    model = build()
    model.head.teacher_temp = 0.05
    inputs, samples = batch()
    out = model.loss(inputs, samples)
    # a fresh teacher is the student's copy
    assert out['diag/teacher_student_distance'].item() == 0
    assert out['diag/teacher_momentum'].item() == pytest.approx(0.996)
    assert out['diag/teacher_temp'].item() == pytest.approx(0.05)
    log_k = math.log(64)
    for name in ('img', 'reg', 'bag'):
        for network in ('teacher', 'student'):
            value = out[f'diag/{network}_entropy_{name}'].item()
            assert 0 < value < log_k + 1e-4
    # KL parts are >= 0 and the image one is the loss minus the teacher
    # entropy (the centres were zero during this loss)
    assert out['diag/kl_img'] >= 0 and out['diag/kl_reg'] >= 0
    assert out['diag/kl_inter'] >= 0
    with torch.no_grad():
        teacher, = model.encode(list(model.teacher.values()), [inputs[:2]])
    t = ((teacher.image_logits) / 0.05).softmax(-1)
    h_t = -(t * t.log()).sum(-1).mean()
    assert out['diag/teacher_entropy_img'].item() == pytest.approx(
        h_t.item(), rel=1e-4)
    assert (out['loss_img'] - out['diag/kl_img']).item() == pytest.approx(
        h_t.item(), rel=1e-4)
    n = teacher.weights.shape[-1]
    share = out['diag/mil_effective_share'].item()
    assert out['diag/mil_effective_regions'].item() == pytest.approx(
        share * n, rel=1e-5)
    assert 0 < share <= 1
    usage = out['diag/prototype_usage'].item() * 64
    assert usage == pytest.approx(round(usage)) and 1 <= usage <= 4

    # student moved away: the distance is the relative parameter distance
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.mul_(2.0)
    model.momentum = 1.0  # the EMA step keeps the teacher where it is
    out = model.loss(inputs, samples)
    assert out['diag/teacher_student_distance'].item() == pytest.approx(
        0.5, rel=1e-5)


def test_dino_diagnostics_and_switch_off():
    dino = build(reg_weight=0.0, inter_weight=0.0)
    out = dino.loss(*batch())
    assert 'diag/kl_img' in out and 'diag/teacher_entropy_reg' not in out
    quiet = build()
    quiet.diagnostics = False
    assert not [k for k in quiet.loss(*batch()) if k.startswith('diag/')]
