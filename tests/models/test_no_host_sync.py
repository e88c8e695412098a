"""A training step's forward and backward never wait for the device.

Everything the loss computes must be possible without reading a value from
the device: no ``.item()``, no boolean-mask indexing or ``unique()`` (whose
result size depends on the data), no copies from the host inside the step
other than the crop boxes, which only geometric matching reads. On CPU this
is checked by running the step on the ``meta`` device, which has shapes but
no values: any operation that needs a value fails there. With a GPU the
step also runs under ``torch.cuda.set_sync_debug_mode('error')``.
"""
import contextlib

import pytest
import torch

from tiny_configs import TINY_MODELS
from tiny_models import batch, build, loss_terms
from mmpretrain.registry import MODELS

VARIANTS = {
    'cmd': dict(),
    'cmd-geometric': dict(matching='geometric'),
    'dino': dict(reg_weight=0.0, inter_weight=0.0),
    'esvit': dict(inter_weight=0.0, weighting='uniform'),
}


@pytest.fixture
def meta_autocast(monkeypatch):
    """torch.autocast(device_type='meta') as a no-op (it has no dtype)."""
    real = torch.autocast

    def autocast(device_type, *args, **kwargs):
        if device_type == 'meta':
            return contextlib.nullcontext()
        return real(device_type, *args, **kwargs)

    monkeypatch.setattr(torch, 'autocast', autocast)


def resnet_batch_teacher():
    tiny = TINY_MODELS['resnet']
    model = MODELS.build(dict(
        type='CMD', teacher_bn='batch',
        backbone=dict(type='ResNet', **tiny['backbone']),
        neck=dict(type='MILNeck', embedding='bag', **tiny['neck']),
        head=dict(type='CMDHead', **tiny['head'])))
    model.init_weights()
    return model


def on_device(model, device, sizes=(32, 16)):
    """The model in train mode on ``device`` and a batch there."""
    model.train()
    model.to(device)
    inputs, samples = batch(2, 3, *sizes)
    return [x.to(device) for x in inputs], samples


def step(model, inputs, samples):
    losses = model.loss(inputs, samples)
    sum(loss_terms(losses).values()).backward()
    return losses


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('frozen', [False, True])
def test_step_needs_no_value_from_the_device(variant, frozen, meta_autocast):
    model = build(**VARIANTS[variant])
    model.head.projector.freeze_prototypes = frozen
    losses = step(model, *on_device(model, 'meta'))
    assert all(v.device.type == 'meta' for v in losses.values())
    assert model.backbone.cls_token.grad.device.type == 'meta'


def test_batchnorm_teacher_step_needs_no_value(meta_autocast):
    model = resnet_batch_teacher()
    step(model, *on_device(model, 'meta', sizes=(64, 32)))


def test_feature_matching_leaves_the_crop_boxes_on_the_host(monkeypatch):
    model = build()
    assert not model.head.needs_crop_geometry
    monkeypatch.setattr(model, 'crop_geometry', lambda *a: pytest.fail(
        'crop boxes copied to the device for feature matching'))
    assert torch.isfinite(step(model, *on_device(model, 'cpu'))['loss_reg'])
    assert build(matching='geometric').head.needs_crop_geometry
    assert not build(matching='geometric',
                     reg_weight=0.0).head.needs_crop_geometry


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('variant', ['cmd', 'dino', 'esvit'])
def test_no_synchronisation_on_the_gpu(variant):
    model = build(**VARIANTS[variant])
    inputs, samples = on_device(model, 'cuda')
    step(model, inputs, samples)  # warm-up: first-call allocations, caches
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        step(model, inputs, samples)
    finally:
        torch.cuda.set_sync_debug_mode('default')
