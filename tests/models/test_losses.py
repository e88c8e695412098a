"""The loss terms against hand computations."""
import math

import torch

from cmd_plugin.models.losses import (cross_view_mask, feature_matching,
                                      image_distillation_loss,
                                      inter_level_loss, mil_pool_log_probs,
                                      mil_pool_probs,
                                      region_distillation_terms,
                                      region_match_weights, student_log_probs,
                                      teacher_probs)


def test_teacher_probs_centre_and_sharpen():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    centre = torch.tensor([[0.5, 0.5, 0.5]])
    p = teacher_probs(logits, centre, 0.5)
    expected = torch.softmax(torch.tensor([1.0, 3.0, 5.0]), dim=0)
    assert torch.allclose(p[0], expected)
    # a centre that equals the logits gives the uniform distribution
    assert torch.allclose(teacher_probs(logits, logits, 0.04),
                          torch.full((1, 3), 1 / 3))
    # lower temperature is sharper
    assert teacher_probs(logits, centre, 0.04).max() > p.max()


def test_student_log_probs_are_fp32_under_bf16():
    out = student_log_probs(torch.randn(2, 5).bfloat16())
    assert out.dtype == torch.float32
    assert torch.allclose(out.exp().sum(-1), torch.ones(2))


def test_image_loss_two_sample_hand_computation():
    # T = 2 teacher crops, S = 3 student crops (crops 0, 1 are shared),
    # B = 2 images, K = 2 prototypes.
    teacher = torch.tensor([[[0.9, 0.1], [0.2, 0.8]],
                            [[0.6, 0.4], [0.5, 0.5]]])
    student = torch.tensor([[[0.7, 0.3], [0.4, 0.6]],
                            [[0.1, 0.9], [0.3, 0.7]],
                            [[0.5, 0.5], [0.8, 0.2]]]).log()
    total, pairs = 0.0, 0
    for t in range(2):
        for s in range(3):
            if s == t:
                continue
            for b in range(2):
                total += -sum(teacher[t, b, k].item() *
                              student[s, b, k].item() for k in range(2)) / 2
            pairs += 1
    loss = image_distillation_loss(teacher, student)
    assert pairs == 4
    assert math.isclose(loss.item(), total / pairs, rel_tol=1e-6)


def test_cross_view_mask_with_offset():
    mask = cross_view_mask(2, 3, 0)
    assert mask.tolist() == [[False, True, True], [True, False, True]]
    assert cross_view_mask(2, 3, 2).all()


def test_mil_pooling_probs_and_log_probs_agree():
    probs = torch.softmax(torch.randn(2, 3, 4, 5), dim=-1)
    weights = torch.softmax(torch.randn(2, 3, 4), dim=-1)
    pooled = mil_pool_probs(probs, weights)
    log_pooled = mil_pool_log_probs(probs.log(), weights)
    assert torch.allclose(pooled.log(), log_pooled, atol=1e-5)
    assert torch.allclose(pooled.sum(-1), torch.ones(2, 3))


def test_region_terms_hand_computation():
    # T = 1, S = 1, B = 1, M = 2 teacher regions, N = 2 student regions.
    teacher = torch.tensor([[[[0.9, 0.1], [0.3, 0.7]]]])
    student_log = torch.tensor([[[[0.6, 0.4], [0.2, 0.8]]]]).log()
    index = torch.tensor([[[[1, 0]]]])  # student 0 -> teacher 1, 1 -> 0
    weight = torch.tensor([[[[0.25, 0.75]]]])
    out = region_distillation_terms(teacher, student_log, index, weight)
    h0 = -(0.3 * math.log(0.6) + 0.7 * math.log(0.4))
    h1 = -(0.9 * math.log(0.2) + 0.1 * math.log(0.8))
    assert out.shape == (1, 1, 1)
    assert math.isclose(out.item(), 0.25 * h0 + 0.75 * h1, rel_tol=1e-6)


def test_region_weights_uniform_and_mil():
    index = torch.tensor([[[[0, 1, 1]]]])
    valid = torch.tensor([[[[True, True, False]]]])
    uniform = region_match_weights(index, valid)
    assert torch.allclose(uniform, torch.tensor([[[[0.5, 0.5, 0.0]]]]))
    teacher_mil = torch.tensor([[[0.2, 0.6]]])
    mil = region_match_weights(index, valid, teacher_mil)
    assert torch.allclose(mil, torch.tensor([[[[0.25, 0.75, 0.0]]]]))
    nothing = region_match_weights(index, torch.zeros_like(valid))
    assert nothing.sum() == 0


def test_feature_matching_picks_most_similar_token():
    teacher = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    student = torch.tensor([[[[0.1, 2.0], [3.0, 0.2], [1.0, 0.9]]]])
    assert feature_matching(teacher, student).tolist() == [[[[1, 0, 0]]]]


def test_inter_level_loss_is_mean_of_both_directions():
    t_img = torch.softmax(torch.randn(2, 3, 4), -1)
    t_bag = torch.softmax(torch.randn(2, 3, 4), -1)
    s_img = torch.log_softmax(torch.randn(5, 3, 4), -1)
    s_bag = torch.log_softmax(torch.randn(5, 3, 4), -1)
    expected = 0.5 * (image_distillation_loss(t_img, s_bag) +
                      image_distillation_loss(t_bag, s_img))
    assert torch.allclose(inter_level_loss(t_img, t_bag, s_img, s_bag),
                          expected)
