"""Resuming (``tools/train.py --resume``, ``run_training(resume='auto')``)
continues a run exactly."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from cmd_plugin.apis.training import run_training, training_config
from cmd_plugin.utils.checkpoint_safety import load_checkpoint_safely
from conftest import write_cub_layout
from single_thread import one_thread  # noqa: F401  (a fixture)
from tiny_configs import write_tiny_config

MAX_EPOCHS = 4
STOP_EPOCH = 2

# Every schedule varies inside the 4 epochs (lr and weight decay cosines,
# temperature warm-up, momentum cosine, prototypes frozen in epochs 1-3), the
# teacher moves fast enough to matter, and drop path uses torch's generator
# next to the augmentations' numpy / python ones.
SCHEDULES = f"""
default_hooks['checkpoint']['interval'] = {STOP_EPOCH}
model['backbone']['drop_path_rate'] = 0.1
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1,
         end={MAX_EPOCHS}, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end={MAX_EPOCHS},
         convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07,
         warmup_epochs=3),
    dict(type='TeacherMomentumHook', start=0.9, end=1.0),
    dict(type='FreezePrototypesHook', epochs=3),
]
"""


class StopAfterEpoch(Hook):
    """End training cleanly after ``epoch`` epochs (checkpoint written)."""

    priority = 'LOWEST'

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.epoch:
            runner.train_loop.stop_training = True


def assert_same_tensors(actual: dict, expected: dict, what: str) -> None:
    assert actual.keys() == expected.keys(), what
    for key, value in expected.items():
        torch.testing.assert_close(
            actual[key], value, rtol=1e-6, atol=1e-7, msg=f'{what}: {key}')


@pytest.fixture(scope='module')
def four_images(tmp_path_factory) -> Path:
    """Two classes, four training images: two iterations per epoch."""
    return write_cub_layout(
        tmp_path_factory.mktemp('four_images'), num_classes=2, per_class=4)


@pytest.mark.parametrize('device_aug', [False, True],
                         ids=['crops_in_loader', 'crops_on_device'])
def test_resumed_run_ends_with_the_same_weights(four_images, tmp_path,
                                                one_thread, device_aug):
    """Also with the crops made by CMDMultiCropPreprocessor, which seeds its
    generator from torch's global one batch by batch."""
    config = write_tiny_config(
        tmp_path / 'resume.py', 'vit', four_images, max_epochs=MAX_EPOCHS,
        extra=SCHEDULES, device_aug=device_aug)
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    run_training(str(config), str(straight))

    # The same run, configured for 4 epochs, ended after epoch 2 ...
    first = Runner.from_cfg(training_config(str(config), str(split)))
    first.register_hook(StopAfterEpoch(STOP_EPOCH))
    first.train()
    assert first.epoch == STOP_EPOCH
    assert not (split / f'epoch_{STOP_EPOCH + 1}.pth').exists()
    # ... and resumed from the latest checkpoint in its work dir. Both runs
    # may start within one second and then share a timestamped log folder,
    # so read only the lines the resumed run added.
    logs_before = {p: len(p.read_text().splitlines())
                   for p in split.glob('*/vis_data/scalars.json')}
    run_training(str(config), str(split), resume='auto')
    resumed = [
        json.loads(line)
        for p in sorted(split.glob('*/vis_data/scalars.json'))
        for line in p.read_text().splitlines()[logs_before.get(p, 0):]
    ]
    assert resumed[0]['iter'] == 5  # not restarted at 1

    final = f'epoch_{MAX_EPOCHS}.pth'
    expected = load_checkpoint_safely(straight / final)
    actual = load_checkpoint_safely(split / final)
    assert actual['meta']['iter'] == expected['meta']['iter'] == 8
    assert any(k.startswith('teacher.') for k in expected['state_dict'])
    assert 'head.image_centre' in expected['state_dict']
    halfway = load_checkpoint_safely(split / f'epoch_{STOP_EPOCH}.pth')
    moved = 'teacher.neck.attn_score.weight'
    assert not torch.equal(halfway['state_dict'][moved],
                           actual['state_dict'][moved])
    assert_same_tensors(actual['state_dict'], expected['state_dict'],
                        'state_dict')
    for a, e in zip(actual['optimizer']['state'].values(),
                    expected['optimizer']['state'].values()):
        assert_same_tensors(a, e, 'optimizer state')
    assert actual['param_schedulers'] == expected['param_schedulers']
