"""The CMD teacher on a BatchNorm backbone (tiny ResNet-18): the EMA formula
on every teacher module, buffers copied, global crops only, one backbone
call per crop resolution, and with ``teacher_bn='batch'`` BatchNorm on the
teacher's own batch (issue 14, item 3)."""
import numpy as np
import pytest
import torch

import cmd_plugin  # noqa: F401
from mmpretrain.registry import MODELS
from tiny_configs import TINY_MODELS
from tiny_models import batch

MODULES = ('backbone', 'neck', 'projector')
B, GLOBAL, LOCAL = 2, 64, 32


def build(**kwargs):
    tiny = TINY_MODELS['resnet']
    model = MODELS.build(dict(
        type='CMD',
        **kwargs,
        backbone=dict(type='ResNet', **tiny['backbone']),
        neck=dict(type='MILNeck', embedding='bag', **tiny['neck']),
        head=dict(type='CMDHead', **tiny['head'])))
    model.init_weights()
    return model


def student_module(model, name):
    return model.head.projector if name == 'projector' else getattr(
        model, name)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_ema_on_every_teacher_module_and_buffers_copied():
    model = build()
    model.momentum = 0.7
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name in MODULES:
            for p in student_module(model, name).parameters():
                p.add_(torch.randn(p.shape, generator=gen))
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.num_batches_tracked.fill_(5)
    before = {name: snapshot(model.teacher[name]) for name in MODULES}

    model.update_teacher()

    num_buffers = 0
    for name in MODULES:
        teacher, student = model.teacher[name], student_module(model, name)
        params = dict(student.named_parameters())
        assert params, name
        assert sorted(dict(teacher.named_parameters())) == sorted(params)
        for key, value in teacher.named_parameters():
            expected = 0.7 * before[name][key] + 0.3 * params[key]
            torch.testing.assert_close(value, expected, msg=f'{name}.{key}')
        buffers = dict(student.named_buffers())
        assert sorted(dict(teacher.named_buffers())) == sorted(buffers)
        for key, value in teacher.named_buffers():
            assert torch.equal(value, buffers[key]), f'{name}.{key}'
            num_buffers += 1
    # the BatchNorm running statistics of the 20 norm layers of ResNet-18
    assert num_buffers == 3 * sum(
        isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.modules())


def test_loss_runs_the_updated_teacher_on_the_global_crops_only():
    model = build()
    model.momentum = 0.6
    with torch.no_grad():  # student and teacher differ before the step
        for p in model.backbone.parameters():
            p.mul_(1.1)
    model.train()
    before = snapshot(model.teacher['backbone'])
    student_params = {k: v.detach().clone()
                      for k, v in model.backbone.named_parameters()}
    inputs, samples = batch(B, 3, GLOBAL, LOCAL)

    calls = {'student': [], 'teacher': []}
    hooks = [
        model.backbone.register_forward_pre_hook(
            lambda m, args: calls['student'].append(args[0].clone())),
        model.teacher['backbone'].register_forward_pre_hook(
            lambda m, args: calls['teacher'].append(args[0].clone())),
    ]
    seen = {}
    head_loss = model.head.loss

    def record(student, teacher, *args, **kwargs):
        seen.update(student=student, teacher=teacher)
        return head_loss(student, teacher, *args, **kwargs)

    model.head.loss = record
    try:
        model.loss(inputs, samples)
    finally:
        for hook in hooks:
            hook.remove()

    # one student backbone call per resolution, one teacher call on the
    # global crops only
    assert [x.shape for x in calls['student']] == [
        (2 * B, 3, GLOBAL, GLOBAL), (3 * B, 3, LOCAL, LOCAL)]
    assert len(calls['teacher']) == 1
    assert torch.equal(calls['teacher'][0], torch.cat(inputs[:2]))
    assert [g.grid for g in seen['student']] == [(2, 2), (1, 1)]
    assert seen['teacher'].image_logits.shape == (2, B, 64)

    # the teacher was updated before it ran: m * old + (1 - m) * student
    teacher = model.teacher['backbone']
    for key, value in teacher.named_parameters():
        torch.testing.assert_close(
            value, 0.6 * before[key] + 0.4 * student_params[key], msg=key)
    # and it ran with the student's BatchNorm statistics of this step
    moved = 0
    for key, value in teacher.named_buffers():
        assert torch.equal(value, dict(model.backbone.named_buffers())[key])
        moved += 'running_mean' in key and not torch.equal(
            value, before[key])
    assert moved > 0

    # the teacher outputs the head received are those of the updated
    # teacher (in eval mode) on the global crops
    with torch.no_grad():
        mil = model.teacher['neck'](teacher(torch.cat(inputs[:2])))
        image = model.teacher['projector'](mil.image)
        regions = model.teacher['projector'](mil.regions, regions=True)
    torch.testing.assert_close(seen['teacher'].image_logits,
                               image.unflatten(0, (2, B)))
    torch.testing.assert_close(seen['teacher'].region_logits,
                               regions.unflatten(0, (2, B)))
    torch.testing.assert_close(seen['teacher'].weights,
                               mil.weights.unflatten(0, (2, B)))


@pytest.mark.parametrize('num_local', [0, 4])
def test_student_groups_are_the_crops_of_one_resolution(num_local):
    model = build()
    model.train()
    inputs, samples = batch(B, num_local, GLOBAL, LOCAL)
    seen = {}
    head_loss = model.head.loss

    def record(student, teacher, *args, **kwargs):
        seen['student'] = student
        return head_loss(student, teacher, *args, **kwargs)

    model.head.loss = record
    model.loss(inputs, samples)
    groups = [inputs[:2]] + ([inputs[2:]] if num_local else [])
    assert [g.num_crops for g in seen['student']] == [len(g) for g in groups]
    # train-mode BatchNorm normalises each call's batch: the encodings are
    # those of one call per group
    with torch.no_grad():
        for encoding, crops in zip(seen['student'], groups):
            mil = model.neck(model.backbone(torch.cat(crops)))
            torch.testing.assert_close(
                encoding.image_logits,
                model.head.projector(mil.image).unflatten(
                    0, (len(crops), B)))


def test_one_student_backbone_call_per_resolution():
    """Local crops of two sizes: three student calls, one per size."""
    model = build()
    inputs, samples = batch(B, 4, GLOBAL, LOCAL)
    inputs[4:] = [x[..., :16, :16] for x in inputs[4:]]
    for sample in samples:
        sample.set_metainfo(dict(crop_boxes=np.array(
            [[0, 0, 80, 80], [10, 10, 90, 90], [20, 20, 50, 50],
             [30, 30, 60, 60], [5, 40, 25, 60], [50, 5, 70, 25]],
            np.float32), crop_flips=np.array([False, True] * 3)))
    shapes = []
    hook = model.backbone.register_forward_pre_hook(
        lambda m, args: shapes.append(tuple(args[0].shape)))
    try:
        losses = model.loss(inputs, samples)
    finally:
        hook.remove()
    assert shapes == [(2 * B, 3, GLOBAL, GLOBAL), (2 * B, 3, LOCAL, LOCAL),
                      (2 * B, 3, 16, 16)]
    assert torch.isfinite(losses['loss_reg'])


def bn_calls(backbone):
    """Record (input, output, running mean before) of every BatchNorm."""
    calls, hooks = [], []
    for module in backbone.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            def pre(m, args):
                m._mean_before = m.running_mean.clone()

            def post(m, args, out):
                # clones: the ReLU after a BatchNorm works in place
                calls.append((m, args[0].clone(), out.clone(),
                              m._mean_before, m.training))
            hooks += [module.register_forward_pre_hook(pre),
                      module.register_forward_hook(post)]
    return calls, hooks


def test_batch_mode_teacher_normalises_its_own_global_crops():
    model = build(teacher_bn='batch')
    model.train()
    teacher = model.teacher['backbone']
    # training mode only where it changes normalisation: the teacher's
    # BatchNorm layers; everything else of the teacher stays in eval mode
    assert all(m.training == isinstance(m, torch.nn.BatchNorm2d)
               for m in model.teacher.modules())
    # student statistics far from any batch's, so that using them shows
    with torch.no_grad():
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(5.0)
                m.running_var.fill_(9.0)
    inputs, samples = batch(B, 3, GLOBAL, LOCAL)
    calls, hooks = bn_calls(teacher)
    student_calls, student_hooks = bn_calls(model.backbone)
    try:
        losses = model.loss(inputs, samples)
    finally:
        for hook in hooks + student_hooks:
            hook.remove()

    assert torch.isfinite(sum(v for k, v in losses.items()
                              if k.startswith('loss')))
    assert len(calls) == sum(isinstance(m, torch.nn.BatchNorm2d)
                             for m in teacher.modules())
    for m, x, out, mean_before, training in calls:
        assert training and x.shape[0] == 2 * B  # the global crops only
        # batch statistics: the output is the input normalised over its batch
        expected = torch.nn.functional.batch_norm(
            x, None, None, m.weight, m.bias, training=True, eps=m.eps)
        torch.testing.assert_close(out, expected)
        # its own running statistics moved towards its batch, from its own
        # previous ones (not replaced by the student's at the EMA step)
        assert torch.equal(mean_before, torch.zeros_like(mean_before))
        torch.testing.assert_close(m.running_mean,
                                   m.momentum * x.mean((0, 2, 3)))
    # the student's statistics moved by its own two batches (global, then
    # local crops) only: nothing of the teacher's leaked into them
    per_module = {}
    for m, x, _, _, _ in student_calls:
        per_module.setdefault(m, []).append(x.mean((0, 2, 3)))
    assert len(per_module) == len(calls)
    for m, means in per_module.items():
        assert len(means) == 2
        expected = torch.full_like(m.running_mean, 5.0)
        for mean in means:
            expected = (1 - m.momentum) * expected + m.momentum * mean
        torch.testing.assert_close(m.running_mean, expected)


def test_running_mode_teacher_uses_the_students_statistics():
    model = build()  # teacher_bn='running', the default
    assert model.teacher_bn == 'running'
    model.train()
    assert not any(m.training for m in model.teacher.modules())
    calls, hooks = bn_calls(model.teacher['backbone'])
    try:
        model.loss(*batch(B, 3, GLOBAL, LOCAL))
    finally:
        for hook in hooks:
            hook.remove()
    for m, x, out, mean_before, training in calls:
        assert not training
        expected = torch.nn.functional.batch_norm(
            x, m.running_var.new_zeros(0).new_tensor(m.running_mean),
            m.running_var, m.weight, m.bias, training=False, eps=m.eps)
        torch.testing.assert_close(out, expected)
        assert torch.equal(m.running_mean, mean_before)  # not updated


def test_eval_mode_puts_the_batch_mode_teacher_in_eval():
    model = build(teacher_bn='batch')
    model.eval()
    assert not any(m.training for m in model.modules())
    with pytest.raises(ValueError, match=r"CMD.teacher_bn: unknown value "
                       r"'sync'. Valid choices are \['running', 'batch'\]"):
        build(teacher_bn='sync')


def test_resnet50_config_uses_batch_statistics_and_sync_bn():
    from mmengine.config import Config
    from tiny_configs import CONFIGS
    cfg = Config.fromfile(CONFIGS / 'cmd_resnet50_cub.py')
    assert cfg.model.teacher_bn == 'batch'
    assert cfg.sync_bn == 'torch'
