import math
from types import SimpleNamespace

import pytest

from cmd_plugin.engine.hooks import (FreezePrototypesHook, TeacherMomentumHook,
                                     TeacherTemperatureHook)


def fake_runner(it=0, epoch=0, iters_per_epoch=10, max_iters=100):
    projector = SimpleNamespace(freeze_prototypes=None)
    # what the hooks may touch on a CMD model (CMD's schedule interface)
    model = SimpleNamespace(teacher_temp=None, projector=projector,
                            momentum=None)
    return SimpleNamespace(model=model, iter=it, epoch=epoch,
                           max_iters=max_iters,
                           train_dataloader=[None] * iters_per_epoch)


def test_temperature_warmup_and_short_runs():
    hook = TeacherTemperatureHook(start=0.04, end=0.07, warmup_epochs=30)
    runner = fake_runner(it=150)  # epoch 15 of the warm-up
    hook.before_train_iter(runner, 0)
    assert math.isclose(runner.model.teacher_temp, 0.055)
    runner = fake_runner(it=1000)
    hook.before_train_iter(runner, 0)
    assert math.isclose(runner.model.teacher_temp, 0.07)
    assert TeacherTemperatureHook(warmup_epochs=0).temperature(0) == 0.07


def test_momentum_cosine():
    hook = TeacherMomentumHook(start=0.996, end=1.0)
    assert math.isclose(hook.momentum(0, 100), 0.996)
    assert math.isclose(hook.momentum(50, 100), 0.998)
    assert math.isclose(hook.momentum(100, 100), 1.0)
    runner = fake_runner(it=25)
    hook.before_train_iter(runner, 0)
    assert 0.996 < runner.model.momentum < 0.998
    with pytest.raises(ValueError, match='start'):
        TeacherMomentumHook(start=1.1)


def test_freeze_prototypes_first_epoch_only():
    hook = FreezePrototypesHook(epochs=1)
    for epoch, frozen in ((0, True), (1, False), (5, False)):
        runner = fake_runner(epoch=epoch)
        hook.before_train_epoch(runner)
        assert runner.model.projector.freeze_prototypes is frozen


def test_freeze_prototypes_hook_lets_the_optimiser_skip_them():
    import torch

    from cmd_plugin.models.heads.cmd_projector import CMDProjector
    projector = CMDProjector(8, 16, 4, 10, 2, True)
    optimizer = torch.optim.AdamW(projector.parameters(), lr=0.1,
                                  weight_decay=0.5)
    runner = fake_runner(epoch=0)
    runner.model.projector = projector
    runner.optim_wrapper = SimpleNamespace(optimizer=optimizer)
    hook = FreezePrototypesHook(epochs=1)
    hook.before_train(runner)
    hook.before_train(runner)  # idempotent: one pre-hook
    assert len(optimizer._optimizer_step_pre_hooks) == 1

    def step():
        optimizer.zero_grad()
        projector(torch.randn(3, 8)).logsumexp(-1).sum().backward()
        before = projector.prototypes.detach().clone()
        optimizer.step()
        return not torch.equal(projector.prototypes, before)

    hook.before_train_epoch(runner)  # epoch 0: frozen
    assert not step() and projector.prototypes not in optimizer.state
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert step() and projector.prototypes in optimizer.state
    hook.after_train(runner)
    assert len(optimizer._optimizer_step_pre_hooks) == 0
