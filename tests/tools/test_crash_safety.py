"""Crash-safe training (``run_training``, what ``tools/train.py`` runs):
iteration checkpoints and an exact resume from inside an epoch, SIGTERM /
SIGINT, a crash with a damaged newest checkpoint, a full disk.

Every run trains the same tiny ViT for 2 epochs of 4 iterations with
iteration checkpoints every 3 iterations (``iter_3``, ``iter_6`` and, as
the last iteration, ``iter_8``), schedules that change every iteration and
drop path; each interrupted run must end with the straight run's weights,
bit for bit.
"""
import errno
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook

from cmd_plugin.apis.training import run_training, training_config
from cmd_plugin.engine.runner import build_runner
from cmd_plugin.utils import atomic_files
from cmd_plugin.utils.atomic_files import is_temporary
from cmd_plugin.utils.checkpoint_files import checkpoint_damage
from cmd_plugin.utils.checkpoint_safety import load_checkpoint_safely
from cmd_plugin.utils.interrupt import TrainingInterrupted
from cmd_plugin.utils.user_errors import UserError
from conftest import write_cub_layout
from single_thread import one_thread  # noqa: F401  (a fixture)
from tiny_configs import write_tiny_config

MAX_EPOCHS = 2
ITERS = 8  # 8 training images, batch 2: 4 iterations per epoch

SCHEDULES = f"""
default_hooks['checkpoint'].update(by_epoch=False, interval=3,
                                   max_keep_ckpts=2)
model['backbone']['drop_path_rate'] = 0.1
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1,
         end={MAX_EPOCHS}, convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07,
         warmup_epochs=1),
    dict(type='TeacherMomentumHook', start=0.9, end=1.0),
    dict(type='FreezePrototypesHook', epochs=1),
]
"""


class AtIteration(Hook):
    """Call ``action()`` after iteration ``iteration`` (1-based), before the
    checkpoint hook."""

    priority = 'HIGHEST'

    def __init__(self, iteration: int, action) -> None:
        self.iteration, self.action = iteration, action

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            self.action()


def checkpoints(work_dir: Path) -> list:
    return sorted(p.name for p in work_dir.glob('*.pth'))


def first_logged_iteration(work_dir: Path, logs_before: dict) -> int:
    """The first iteration the latest run logged (scalars.json lines that
    were not there before it)."""
    lines = [
        json.loads(line)
        for p in sorted(work_dir.glob('*/vis_data/scalars.json'))
        for line in p.read_text().splitlines()[logs_before.get(p, 0):]
    ]
    return lines[0]['iter']


def log_lengths(work_dir: Path) -> dict:
    return {p: len(p.read_text().splitlines())
            for p in work_dir.glob('*/vis_data/scalars.json')}


def assert_same_run(actual: Path, expected: Path) -> None:
    """Bitwise equal weights, optimiser state and schedulers."""
    a, e = load_checkpoint_safely(actual), load_checkpoint_safely(expected)
    assert a['meta']['iter'] == e['meta']['iter'] == ITERS
    assert a['state_dict'].keys() == e['state_dict'].keys()
    for key, value in e['state_dict'].items():
        assert torch.equal(a['state_dict'][key], value), key
    for sa, se in zip(a['optimizer']['state'].values(),
                      e['optimizer']['state'].values()):
        for key, value in se.items():
            assert torch.equal(sa[key], value), key
    assert a['param_schedulers'] == e['param_schedulers']


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """The config and the straight (uninterrupted) run's work dir."""
    root = tmp_path_factory.mktemp('crash_safety')
    data = write_cub_layout(root, num_classes=2, per_class=8)
    config = write_tiny_config(root / 'crash.py', 'vit', data,
                               max_epochs=MAX_EPOCHS, extra=SCHEDULES)
    straight = root / 'straight'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_training(str(config), str(straight))
    finally:
        torch.set_num_threads(threads)
    assert checkpoints(straight) == ['iter_6.pth', 'iter_8.pth']
    return config, straight


def runner_for(config: Path, work_dir: Path):
    return build_runner(training_config(str(config), str(work_dir)))


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_continues_exactly(setup, tmp_path, signum,
                                                  one_thread, capfd):
    config, straight = setup
    work = tmp_path / 'work'
    runner = runner_for(config, work)
    # iteration 5 is the first of epoch 2: no regular checkpoint there
    runner.register_hook(
        AtIteration(5, lambda: os.kill(os.getpid(), signum)))
    before = signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted) as stop:
        runner.train()
    assert signal.getsignal(signum) == before  # handlers restored
    assert stop.value.code == 128 + signum
    name = signal.Signals(signum).name
    assert str(stop.value) == (
        f'Training stopped by {name} after 5 iterations (in epoch 2): saved '
        f'the checkpoint {work / "iter_5.pth"}. Continue with the same '
        'command and --resume (or --resume-if-any).')
    assert f'{name} received: training stops after the current ' \
        'iteration' in capfd.readouterr().err
    assert checkpoints(work) == ['iter_3.pth', 'iter_5.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_5.pth')
    meta = load_checkpoint_safely(work / 'iter_5.pth')['meta']
    assert (meta['epoch'], meta['iter']) == (1, 5)

    logs = log_lengths(work)
    run_training(str(config), str(work), resume='auto')
    assert first_logged_iteration(work, logs) == 6  # nothing trained twice
    # the signal's checkpoint went once iter_6 was complete
    assert checkpoints(work) == checkpoints(straight)
    assert_same_run(work / 'iter_8.pth', straight / 'iter_8.pth')


def test_crash_mid_epoch_with_a_damaged_newest_checkpoint(
        setup, tmp_path, one_thread, monkeypatch):
    """A crash after iteration 5 (epoch 2) leaves iter_3.pth (inside epoch
    1); an iter_6.pth cut off mid-write (as mmengine's in-place writer
    leaves one) is skipped with a warning naming it."""
    config, straight = setup
    work = tmp_path / 'work'
    runner = runner_for(config, work)

    def crash():
        raise RuntimeError('simulated crash')

    runner.register_hook(AtIteration(5, crash))
    with pytest.raises(RuntimeError, match='simulated crash'):
        runner.train()
    assert checkpoints(work) == ['iter_3.pth']
    data = (work / 'iter_3.pth').read_bytes()
    (work / 'iter_6.pth').write_bytes(data[:len(data) // 3])

    warnings = []
    monkeypatch.setattr('cmd_plugin.apis.preflight.print_log',
                        lambda message, **kw: warnings.append(message))
    logs = log_lengths(work)
    run_training(str(config), str(work), resume='auto')
    assert warnings[0].startswith(
        f'--resume: skipped the checkpoint {work / "iter_6.pth"}: '
        'truncated: ')
    assert warnings[1] == (f'--resume: resuming from {work / "iter_3.pth"} '
                           '(iteration 3), the newest complete checkpoint.')
    assert first_logged_iteration(work, logs) == 4  # inside epoch 1
    assert_same_run(work / 'iter_8.pth', straight / 'iter_8.pth')


def test_disk_full_keeps_the_previous_checkpoint(setup, tmp_path, one_thread,
                                                 monkeypatch):
    """The second checkpoint finds the disk full. With max_keep_ckpts=1
    mmengine would have deleted iter_3.pth before writing iter_6.pth."""
    config, straight = setup
    work = tmp_path / 'work'
    write_all = atomic_files._write_all
    written = []

    def second_checkpoint_fails(file, data):
        if len(data) > 10000:  # a checkpoint, not last_checkpoint
            written.append(len(data))
            if len(written) == 2:
                write_all(file, data[:len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(file, data)

    monkeypatch.setattr(atomic_files, '_write_all', second_checkpoint_fails)
    keep_one = {'default_hooks.checkpoint.max_keep_ckpts': 1}
    with pytest.raises(UserError) as error:  # tools/train.py: exit status 2
        run_training(str(config), str(work), keep_one)
    err = str(error.value)
    assert err.startswith(
        f'Could not save the checkpoint iter_6.pth in the '
        f'work dir {work}: No space left on device. It needs ')
    assert f'The previous checkpoint {work / "iter_3.pth"} is intact' in err
    assert f'{written[1] / 1024:.1f} KiB' in err
    assert checkpoints(work) == ['iter_3.pth']
    assert checkpoint_damage(str(work / 'iter_3.pth')) is None
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')
    assert not [p for p in work.iterdir() if is_temporary(p.name)]

    monkeypatch.setattr(atomic_files, '_write_all', write_all)
    run_training(str(config), str(work), keep_one, resume='auto')
    assert checkpoints(work) == ['iter_8.pth']
    assert_same_run(work / 'iter_8.pth', straight / 'iter_8.pth')
