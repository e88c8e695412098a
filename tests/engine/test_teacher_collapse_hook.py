"""TeacherCollapseHook: warns on a built collapse, not on a healthy run."""
import logging
import math
from types import SimpleNamespace

import pytest
import torch

from cmd_plugin.engine.hooks import TeacherCollapseHook
from tiny_models import batch, build


class ListLogger:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def runner_for(model):
    return SimpleNamespace(model=model, iter=0, logger=ListLogger())


def feed(hook, runner, outputs):
    for it, out in enumerate(outputs):
        runner.iter = it
        hook.after_train_iter(runner, it, None, out)


def test_warns_once_per_episode_naming_the_signal():
    k = 64
    runner = runner_for(SimpleNamespace(num_prototypes=k))
    hook = TeacherCollapseHook(patience=3)
    uniform = {'diag/teacher_entropy_img': torch.tensor(math.log(k)),
               'diag/teacher_entropy_reg': torch.tensor(0.5 * math.log(k))}
    feed(hook, runner, [uniform] * 5)
    assert len(runner.logger.warnings) == 1
    message = runner.logger.warnings[0]
    assert 'diag/teacher_entropy_img' in message and 'above 95%' in message
    assert 'uniform' in message and 'iteration 3' in message
    # back in range, then one-hot: a second, different warning
    healthy = {'diag/teacher_entropy_img': torch.tensor(2.0)}
    one_hot = {'diag/teacher_entropy_img': torch.tensor(0.01)}
    feed(hook, runner, [healthy] + [one_hot] * 2)
    assert len(runner.logger.warnings) == 1  # patience not reached yet
    feed(hook, runner, [one_hot] * 3)
    assert len(runner.logger.warnings) == 2
    assert 'below 5%' in runner.logger.warnings[1]
    assert 'one-hot' in runner.logger.warnings[1]


def test_quiet_on_a_healthy_toy_run():
    model = build()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3)
    runner = runner_for(model)
    hook = TeacherCollapseHook(patience=1)
    for it in range(4):
        losses = model.loss(*batch())
        optimizer.zero_grad()
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        optimizer.step()
        runner.iter = it
        outputs = {k: v.detach() for k, v in losses.items()}
        share = outputs['diag/teacher_entropy_img'] / math.log(64)
        assert 0.05 < share < 0.95
        hook.after_train_iter(runner, it, None, outputs)
    assert runner.logger.warnings == []


def test_bad_bounds_are_named():
    with pytest.raises(ValueError, match='TeacherCollapseHook.patience'):
        TeacherCollapseHook(patience=0)
    with pytest.raises(ValueError, match='TeacherCollapseHook.high'):
        TeacherCollapseHook(low=0.5, high=0.2)
