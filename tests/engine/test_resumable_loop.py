"""ResumableEpochBasedTrainLoop, CMDRunner's upgrades, StopSignals."""
import os
import random
import signal

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.hooks import CheckpointHook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, SequentialSampler

from cmd_plugin.engine.hooks import CMDCheckpointHook
from cmd_plugin.engine.runner import CMDRunner, ResumableEpochBasedTrainLoop
from cmd_plugin.engine.runner.loops import SkipFirst
from cmd_plugin.utils.checkpoint_safety import load_checkpoint_safely
from cmd_plugin.utils.interrupt import (IgnoreStopSignalsThen, StopSignals,
                                        TrainingInterrupted)
from cmd_plugin.utils.rng_state import get_rng_states, set_rng_states


def test_skip_first_keeps_the_length_and_the_batches():
    sampler = SequentialSampler(range(10))
    batches = BatchSampler(sampler, batch_size=3, drop_last=False)
    expected = list(batches)
    batches.sampler = SkipFirst(sampler, 2 * 3)
    assert len(batches) == len(expected)
    assert list(batches) == expected[2:]
    batches.sampler = SkipFirst(sampler, 100)
    assert list(batches) == []


def FakeRunner() -> CMDRunner:
    """A CMDRunner that was never built (its overrides read nothing)."""
    return CMDRunner.__new__(CMDRunner)


@pytest.mark.parametrize('loop, expected', [
    (dict(type='EpochBasedTrainLoop', max_epochs=2),
     ResumableEpochBasedTrainLoop),
    (dict(by_epoch=True, max_epochs=2), ResumableEpochBasedTrainLoop),
    (dict(type=EpochBasedTrainLoop, max_epochs=2),
     ResumableEpochBasedTrainLoop),
    (dict(type='ResumableEpochBasedTrainLoop', max_epochs=2),
     'ResumableEpochBasedTrainLoop'),
    (dict(by_epoch=False, max_iters=2), None),
])
def test_runner_builds_the_resumable_loop(monkeypatch, loop, expected):
    seen = {}

    def fake_build(self, cfg):
        seen.update(cfg)
        return cfg

    monkeypatch.setattr('mmengine.runner.Runner.build_train_loop', fake_build)
    CMDRunner.build_train_loop(FakeRunner(), ConfigDict(loop))
    if expected is None:
        assert 'type' not in seen
    else:
        assert seen['type'] == expected and 'by_epoch' not in seen


def test_runner_registers_checkpoint_hooks_as_crash_safe(monkeypatch):
    built = []
    monkeypatch.setattr('mmengine.runner.Runner.register_hook',
                        lambda self, hook, priority=None: built.append(hook))
    CMDRunner.register_hook(FakeRunner(),
                            dict(type='CheckpointHook', interval=2))
    assert built[-1] == dict(type=CMDCheckpointHook, interval=2)
    CMDRunner.register_hook(FakeRunner(), dict(type='LoggerHook'))
    assert built[-1] == dict(type='LoggerHook')
    hook = CheckpointHook(interval=3, max_keep_ckpts=2)
    CMDRunner.register_hook(FakeRunner(), hook)
    assert type(built[-1]) is CMDCheckpointHook
    assert (built[-1].interval, built[-1].max_keep_ckpts) == (3, 2)


def test_stop_signals_record_then_stop_at_once():
    # as in an interactive shell: a process started in the background by a
    # non-interactive shell inherits SIGINT ignored, and StopSignals leaves
    # an ignored signal alone
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopSignals() as stop:
            assert stop.installed and stop.received is None
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.received == signal.SIGINT  # recorded, not raised
            with pytest.raises(KeyboardInterrupt):  # the second: at once
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, outer)


def test_training_interrupted_exits_like_a_signal():
    stop = TrainingInterrupted(signal.SIGTERM, 'stopped', '/w/iter_5.pth')
    assert isinstance(stop, SystemExit) and stop.code == 143
    assert str(stop) == 'stopped' and stop.checkpoint == '/w/iter_5.pth'


def test_workers_ignore_the_stop_signals():
    calls = []
    init = IgnoreStopSignalsThen(calls.append)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM,
                                                signal.SIGINT)}
    try:
        init(3)
        assert calls == [3]
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_generator_states_round_trip_through_a_safe_checkpoint(tmp_path):
    """What exact resume inside an epoch rests on: the saved states, loaded
    with weights_only=True, give the draws the saved process would have
    made next."""
    np.random.rand(3)
    torch.rand(3)
    random.random()
    torch.save({'rng_states': [get_rng_states()]}, tmp_path / 'c.pth')
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    for _ in range(2):  # whatever ran in between
        random.random(), np.random.rand(5), torch.rand(5)
    states = load_checkpoint_safely(tmp_path / 'c.pth')['rng_states']
    set_rng_states(states[0])
    assert (random.random(), np.random.rand(),
            torch.rand(1).item()) == expected


def test_resume_hands_the_states_to_the_loop():
    class Loop:
        resume_rng_states = None

    runner = FakeRunner()
    runner._train_loop = Loop()
    hook = CMDCheckpointHook(interval=1)
    hook.after_load_checkpoint(runner, {'rng_states': ['state of rank 0']})
    assert runner._train_loop.resume_rng_states == ['state of rank 0']
    hook.after_load_checkpoint(runner, {})  # an older checkpoint
    assert runner._train_loop.resume_rng_states is None
    runner._train_loop = dict(type='ResumableEpochBasedTrainLoop')
    hook.after_load_checkpoint(runner, {'rng_states': []})  # not built
