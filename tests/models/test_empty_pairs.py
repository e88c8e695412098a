"""Empty sets of pairs contribute a zero, never NaN (issue 14, item 1).

With geometric matching a batch can hold no student region inside any
teacher crop (batch 1, no local crops, two global crops that do not
overlap), and with one global crop and no local crops there is no pair of
different views at all. Those terms must be a zero that keeps the graph,
and a batch with pairs must give exactly what it gave before.
"""
import numpy as np
import torch

from cmd_plugin.models.losses import (cross_view_mask, cross_view_pairs,
                                      image_distillation_loss,
                                      pairwise_cross_entropy)
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from tiny_configs import TINY_MODELS
from tiny_models import VIT, batch, build, loss_terms


def samples(boxes, flips):
    """The data samples of a batch of one image."""
    s = DataSample()
    s.set_metainfo(dict(crop_boxes=np.array(boxes, np.float32),
                        crop_flips=np.array(flips)))
    return [s]


def check_finite_and_graph(model, losses):
    for name, value in losses.items():
        assert torch.isfinite(value).all(), (name, value)
    total = sum(loss_terms(losses).values())
    total.backward()  # the zeros keep the graph: backward works
    grads = [p.grad for p in model.head.projector.parameters()
             if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_no_student_region_inside_a_teacher_crop():
    model = build(matching='geometric')
    torch.manual_seed(0)
    inputs = [torch.randn(1, 3, 32, 32) for _ in range(2)]
    # two global crops side by side: no region centre of one lies in the other
    data = samples([[0, 0, 40, 40], [50, 50, 90, 90]], [False, True])
    losses = model.loss(inputs, data)
    assert losses['loss_reg'].item() == 0
    assert losses['diag/reg_pairs'].item() == 0
    assert losses['diag/kl_reg'].item() == 0
    assert losses['loss_reg'].requires_grad
    assert losses['loss_img'].item() > 0 and losses['loss_inter'].item() > 0
    check_finite_and_graph(model, losses)


def test_one_global_crop_no_local_crops():
    cfg = dict(type='CMD', num_global_crops=1, backbone=VIT,
               neck=dict(type='MILNeck', **TINY_MODELS['vit']['neck']),
               head=dict(type='CMDHead', **TINY_MODELS['vit']['head'],
                         matching='geometric'))
    model = MODELS.build(cfg)
    model.init_weights()
    torch.manual_seed(0)
    losses = model.loss([torch.randn(1, 3, 32, 32)],
                        samples([[0, 0, 40, 40]], [False]))
    for name in ('loss_img', 'loss_reg', 'loss_inter'):
        assert losses[name].item() == 0 and losses[name].requires_grad
    check_finite_and_graph(model, losses)


def test_cross_view_pairs_counts_the_mask():
    for t in range(1, 4):
        for s in range(0, 5):
            for offset in range(0, 5):
                mask = cross_view_mask(t, s, offset)
                assert cross_view_pairs(t, s, offset) == int(mask.sum())


def test_pairs_present_unchanged():
    torch.manual_seed(0)
    teacher = torch.rand(2, 3, 8).softmax(-1)
    student = torch.randn(5, 3, 8).log_softmax(-1)
    ce = pairwise_cross_entropy(teacher, student)
    expected = ce[cross_view_mask(2, 5, 0)].mean()
    # the mean of the kept pairs, now a masked sum over the pair count (no
    # boolean indexing, so no host sync): the same up to summation order
    torch.testing.assert_close(image_distillation_loss(teacher, student),
                               expected, rtol=1e-6, atol=0)
    # the whole model on the usual batch: the region term is the mean over
    # the kept pairs, as before (the zero path is not taken)
    model = build(matching='geometric')
    losses = model.loss(*batch())
    assert losses['diag/reg_pairs'].item() > 0
    assert all(torch.isfinite(v) for v in losses.values())
