"""NonFiniteLossHook stops training before a broken checkpoint is written."""
import math
import re
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import cmd_plugin  # noqa: F401  (registers the hook)

BAD_ITER = 4  # 1-based iteration whose loss_reg is non-finite


class TwoTermModel(BaseModel):
    """Returns ``loss_img`` and ``loss_reg``; ``loss_reg`` turns bad once."""

    def __init__(self, bad_value: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.bad_value = bad_value
        self.calls = 0

    def forward(self, inputs, mode='tensor'):
        self.calls += 1
        loss_img = (self.weight * inputs.mean())**2
        loss_reg = self.weight.abs() * 0.5
        if self.calls == BAD_ITER:
            loss_reg = loss_reg * self.bad_value
        return dict(loss_img=loss_img, loss_reg=loss_reg.sum())


class Ones(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=torch.ones(3))


def make_runner(work_dir: Path, bad_value: float, hooks: list) -> Runner:
    """Saves a checkpoint after every iteration; 2 epochs of 4 iterations."""
    return Runner(
        model=TwoTermModel(bad_value),
        work_dir=str(work_dir),
        experiment_name=uuid.uuid4().hex,  # unique scope and message hub
        train_dataloader=dict(
            dataset=Ones(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False)),
        custom_hooks=hooks,
        default_scope='mmpretrain',
        log_level='WARNING')


def saved_iters(work_dir: Path) -> list:
    return sorted(int(p.stem.split('_')[1]) for p in work_dir.glob('iter_*'))


@pytest.mark.parametrize('bad_value', [math.nan, math.inf])
def test_stops_before_checkpoint(tmp_path: Path, bad_value: float) -> None:
    runner = make_runner(tmp_path, bad_value,
                         [dict(type='NonFiniteLossHook')])
    with pytest.raises(RuntimeError) as error:
        runner.train()
    message = str(error.value)
    assert f'iteration {BAD_ITER} ' in message
    assert f'loss_reg={bad_value}' in message
    last = re.search(r'Last finite values \(iteration (\d+)\): (.*?)\.\s',
                     message)
    assert last and int(last.group(1)) == BAD_ITER - 1
    assert {'loss', 'loss_img', 'loss_reg'} == {
        term.split('=')[0]
        for term in last.group(2).split(', ')
    }
    assert saved_iters(tmp_path) == list(range(1, BAD_ITER))


def test_without_hook_the_bad_checkpoint_is_written(tmp_path: Path) -> None:
    """Control: the scenario above does write a broken checkpoint."""
    runner = make_runner(tmp_path, math.nan, [])
    runner.train()
    assert BAD_ITER in saved_iters(tmp_path)
    assert not torch.isfinite(runner.model.weight).all()
