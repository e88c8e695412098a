"""The CMD algorithm: teacher, EMA, centres, gradients, config errors."""
import copy

import numpy as np
import pytest
import torch

import cmd_plugin  # noqa: F401
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from tiny_configs import TINY_MODELS
from tiny_models import VIT, batch, build, loss_terms


def test_loss_terms_and_no_teacher_gradient():
    model = build()
    losses = loss_terms(model.loss(*batch()))
    assert set(losses) == {'loss_img', 'loss_reg', 'loss_inter'}
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert model.backbone.cls_token.grad is not None


def test_schedule_interface_reaches_the_head():
    """What the hooks set on the model lands where the losses read it."""
    model = build()
    model.teacher_temp = 0.0625
    assert model.head.teacher_temp == 0.0625 == model.teacher_temp
    assert model.projector is model.head.projector
    assert model.num_prototypes == model.head.projector.prototypes.shape[0]
    # same weights and centres, only the temperature set through the model
    flat = copy.deepcopy(model)
    flat.teacher_temp = 0.5
    inputs = batch()
    assert not torch.isclose(loss_terms(model.loss(*inputs))['loss_img'],
                             loss_terms(flat.loss(*inputs))['loss_img'])


def test_teacher_starts_as_student_copy():
    model = build()
    for t, s in zip(model.teacher['backbone'].parameters(),
                    model.backbone.parameters()):
        assert torch.equal(t, s)


def test_teacher_stays_in_eval_mode_without_drop_path():
    model = build(backbone=dict(drop_path_rate=0.5))
    model.train()
    assert model.backbone.training and not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    crops = [torch.randn(2, 3, 32, 32)] * 2
    with torch.no_grad():
        first = model.encode(list(model.teacher.values()), [crops])[0]
        second = model.encode(list(model.teacher.values()), [crops])[0]
    assert torch.equal(first.image_logits, second.image_logits)
    # the student, in train mode, does drop paths
    student = model.encode(model._student_modules(), [crops])[0]
    again = model.encode(model._student_modules(), [crops])[0]
    assert not torch.equal(student.image_logits, again.image_logits)


def test_ema_update_follows_formula():
    model = build()
    model.momentum = 0.9
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.teacher['backbone'].parameters()]
    model.update_teacher()
    for t, b, s in zip(model.teacher['backbone'].parameters(), before,
                       model.backbone.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-6)


def test_centres_move_towards_teacher_mean():
    model = build(centre_momentum=0.9)
    inputs, samples = batch()
    with torch.no_grad():
        teacher, = model.encode(list(model.teacher.values()), [inputs[:2]])
    model.loss(inputs, samples)
    expected = 0.1 * teacher.image_logits.flatten(0, 1).mean(0)
    assert torch.allclose(model.head.image_centre[0], expected, atol=1e-5)
    expected_reg = 0.1 * teacher.region_logits.flatten(0, 2).mean(0)
    assert torch.allclose(model.head.region_centre[0], expected_reg,
                          atol=1e-5)


def test_inter_gradient_reaches_mil_neck_and_zero_weight_removes_it():
    only_inter = build(img_weight=0.0, reg_weight=0.0, inter_weight=1.0)
    losses = loss_terms(only_inter.loss(*batch()))
    assert set(losses) == {'loss_inter'}
    losses['loss_inter'].backward()
    grad = only_inter.neck.attn_score.weight.grad
    assert grad is not None and grad.abs().sum() > 0

    no_inter = build(inter_weight=0.0, weighting='uniform')
    losses = no_inter.loss(*batch())
    assert 'loss_inter' not in losses
    sum(losses.values()).backward()
    grad = no_inter.neck.attn_score.weight.grad
    assert grad is None or grad.abs().sum() == 0


def test_geometric_matching_and_missing_boxes():
    model = build(matching='geometric')
    losses = model.loss(*batch())
    assert torch.isfinite(losses['loss_reg'])
    inputs, _ = batch()
    with pytest.raises(ValueError, match='crop_boxes'):
        model.loss(inputs, [DataSample() for _ in range(2)])


def test_frozen_prototypes_get_a_zero_gradient_and_no_update():
    model = build()
    projector = model.head.projector
    projector.freeze_prototypes = True
    sum(loss_terms(model.loss(*batch())).values()).backward()
    # in the graph (DDP sees it used), but nothing flows into it
    assert torch.equal(projector.prototypes.grad,
                       torch.zeros_like(projector.prototypes))
    assert projector.mlp[0].weight.grad.abs().sum() > 0
    # what FreezePrototypesHook runs before every optimiser step: AdamW then
    # skips the prototypes (no weight decay, no state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1,
                                  weight_decay=0.5)
    optimizer.register_step_pre_hook(
        lambda *args: projector.drop_frozen_gradients())
    before = projector.prototypes.detach().clone()
    optimizer.step()
    assert torch.equal(projector.prototypes, before)
    assert projector.prototypes not in optimizer.state
    # unfrozen: an ordinary parameter
    projector.freeze_prototypes = False
    optimizer.zero_grad()
    sum(loss_terms(model.loss(*batch())).values()).backward()
    assert projector.prototypes.grad.abs().sum() > 0
    projector.drop_frozen_gradients()
    assert projector.prototypes.grad is not None


@pytest.mark.parametrize('head, message', [
    (dict(matching='nearest'), "Valid choices are \\['feature', 'geometric'"),
    (dict(weighting='attention'), 'Valid choices'),
    (dict(img_weight=-1.0), 'img_weight'),
    (dict(img_weight=0.0, reg_weight=0.0, inter_weight=0.0), 'all 0'),
    (dict(teacher_temp=0.0), 'teacher_temp'),
])
def test_invalid_head_config(head, message):
    with pytest.raises(ValueError, match=message):
        build(**head)


def test_backbone_without_patch_tokens_fails_on_first_step():
    cfg = dict(
        type='CMD', backbone=dict(VIT, out_type='cls_token'),
        neck=dict(type='MILNeck', **TINY_MODELS['vit']['neck']),
        head=dict(type='CMDHead', **TINY_MODELS['vit']['head']))
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match='model.backbone.out_type'):
        model.loss(*batch())
