"""cmd_plugin.apis.preflight: checks before anything is built."""
import uuid
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

from cmd_plugin.apis.preflight import (checkpoint_problem,
                                       class_count_problem,
                                       fix_persistent_workers, fix_pin_memory,
                                       init_checkpoints, iter_dataloaders,
                                       preflight, unknown_key_problems)
from cmd_plugin.utils.user_errors import UserError
from cmd_plugin.utils.validation import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def fresh_logger() -> MMLogger:
    """A new current MMLogger, writing to the stdout pytest captures now."""
    return MMLogger.get_instance(f'test-preflight-{uuid.uuid4().hex}')


def test_dataloaders_of_hooks_are_found():
    cfg = dict(train_dataloader=dict(), custom_hooks=[
        dict(type='EpochSeedHook'),
        dict(type='KNNMonitorHook', train_dataloader=dict(),
             val_dataloader=dict())])
    assert [key for key, _ in iter_dataloaders(cfg)] == [
        'train_dataloader', 'custom_hooks[1].train_dataloader',
        'custom_hooks[1].val_dataloader']


def test_persistent_workers_switched_off_without_workers(capsys):
    fresh_logger()
    cfg = Config(dict(
        train_dataloader=dict(num_workers=0, persistent_workers=True),
        val_dataloader=dict(num_workers=2, persistent_workers=True),
        test_dataloader=dict(persistent_workers=True)))
    fix_persistent_workers(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True
    assert cfg.test_dataloader.persistent_workers is False
    out = capsys.readouterr().out
    assert ('train_dataloader.persistent_workers: switched off, as '
            'train_dataloader.num_workers=0 starts no worker process to '
            'keep.') in out
    assert 'test_dataloader.persistent_workers: switched off' in out
    assert 'val_dataloader' not in out


def test_pin_memory_switched_off_without_a_gpu(capsys):
    fresh_logger()
    cfg = Config.fromfile(ROOT / 'configs' / 'cmd_vit-s_cub.py')
    assert cfg.train_dataloader.pin_memory is True  # the GPU configs pin
    assert cfg.data_preprocessor.non_blocking is True
    fix_pin_memory(cfg, cuda=True)
    assert cfg.train_dataloader.pin_memory is True
    fix_pin_memory(cfg, cuda=False)
    assert cfg.train_dataloader.pin_memory is False
    assert ('train_dataloader.pin_memory: switched off, as there is no GPU '
            'to copy the batches to.') in capsys.readouterr().out


@pytest.mark.parametrize(
    'config', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_shipped_configs_have_no_unknown_keys(config):
    assert unknown_key_problems(Config.fromfile(config)) == []


@pytest.mark.parametrize('options, problem', [
    ({'train_cfg.max_epoch': 3},
     'train_cfg.max_epoch: unknown key; did you mean max_epochs?'),
    ({'train_cfg': dict(_delete_=True, by_epoch=True)},
     'train_cfg.max_epochs: required by EpochBasedTrainLoop but not set.'),
    ({'train_cfg': dict(_delete_=True, by_epoch=False, max_iters=10,
                        val_intervall=2)},
     'train_cfg.val_intervall: unknown key; did you mean val_interval?'),
    ({'val_cfg': dict(fp61=True)},
     'val_cfg.fp61: unknown key; did you mean fp16?'),
    ({'test_cfg': dict(evaluate=True)},
     "test_cfg.evaluate: unknown key; valid keys are ['fp16', 'type']."),
    ({'test_dataloader.num_worker': 2},
     'test_dataloader.num_worker: unknown key; did you mean num_workers?'),
    ({'train_dataloader.sampler.shufle': False},
     'train_dataloader.sampler.shufle: unknown key; did you mean shuffle?'),
    ({'optim_wrapper.clip_gard': None},
     'optim_wrapper.clip_gard: unknown key; did you mean clip_grad?'),
    ({'optim_wrapper.optimizer.weight_dacay': 0.1},
     'optim_wrapper.optimizer.weight_dacay: unknown key; did you mean '
     'weight_decay?'),
])
def test_unknown_keys_are_named(options, problem):
    cfg = Config.fromfile(ROOT / 'configs' / 'benchmarks' /
                          'linear_vit-s_cub.py')
    cfg.merge_from_dict(options)
    assert unknown_key_problems(cfg) == [problem]


def test_wrapper_keyword_arguments_reach_the_base_class():
    # AmpOptimWrapper takes **kwargs for OptimWrapper's clip_grad
    cfg = dict(optim_wrapper=dict(
        type='AmpOptimWrapper', dtype='bfloat16', clip_grad=None,
        optimizer=dict(type='AdamW', lr=1e-3), accumulative_counts=2))
    assert unknown_key_problems(cfg) == []
    cfg['optim_wrapper']['loss_scal'] = 'dynamic'
    assert unknown_key_problems(cfg) == [
        'optim_wrapper.loss_scal: unknown key; did you mean loss_scale?']


def test_init_checkpoints_anywhere_in_the_model():
    model = dict(
        init_cfg=dict(type='CMDPretrained', checkpoint='a.pth'),
        backbone=dict(init_cfg=[dict(type='Constant', val=0),
                                dict(type='Pretrained', checkpoint='b.pth')]),
        heads=[dict(init_cfg=dict(type='Pretrained', checkpoint=None))])
    assert list(init_checkpoints(model)) == [
        ('model.init_cfg.checkpoint', 'a.pth'),
        ('model.backbone.init_cfg[1].checkpoint', 'b.pth'),
        ('model.heads[0].init_cfg.checkpoint', None),
    ]


def test_checkpoint_problems(tmp_path):
    (tmp_path / 'ok.pth').write_bytes(b'not read')
    assert checkpoint_problem(str(tmp_path / 'ok.pth'), '--resume') is None
    assert checkpoint_problem('https://x.org/a.pth', 'load_from') is None
    assert checkpoint_problem(str(tmp_path), 'CHECKPOINT') == (
        f"CHECKPOINT: '{tmp_path}' is a folder, not a checkpoint file.")
    assert checkpoint_problem(None, 'model.init_cfg.checkpoint') == (
        'model.init_cfg.checkpoint: no checkpoint given. Set it with '
        '--cfg-options model.init_cfg.checkpoint=PATH.')


def test_preflight_reports_everything_in_one_message(tmp_path):
    cfg = Config.fromfile(ROOT / 'configs' / 'cmd_effnet-lite0_cub.py')
    cfg.merge_from_dict({
        'model.head.matching': 'nearest',
        'train_cfg.max_epoch': 3,
        'train_dataloader.dataset.data_root': str(tmp_path / 'train'),
        'load_from': str(tmp_path / 'start.pth'),
    })
    with pytest.raises(ConfigError) as error:
        preflight(cfg, checkpoints={'--resume': str(tmp_path / 'r.pth')})
    lines = str(error.value).splitlines()
    assert lines[0] == '6 problems, found before building anything:'
    assert [line.split(':')[0].strip() for line in lines[1:]] == [
        'model.head.matching', 'train_cfg.max_epoch', '--resume',
        'load_from', 'model.backbone.init_cfg.checkpoint',
        f"train_dataloader.dataset.data_root='{tmp_path / 'train'}'"]
    assert isinstance(error.value, UserError)
    # a test reads no init_cfg checkpoint and only the test dataloader
    cfg.merge_from_dict({'model.head.matching': 'geometric',
                         'train_cfg.max_epochs': 3})
    del cfg.train_cfg['max_epoch']
    with pytest.raises(ConfigError, match='^load_from: '):
        preflight(cfg, dataloaders=('test_dataloader', ), init_weights=False)


def test_class_count_against_the_labels(tiny_cub):
    cfg = Config.fromfile(ROOT / 'configs' / 'benchmarks' /
                          'linear_vit-s_cub.py')
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(tiny_cub),
                         'model.head.num_classes': 2})
    assert class_count_problem(cfg, 'train_dataloader') == (
        'model.head.num_classes=2, but train_dataloader.dataset has 3 '
        f"classes (labels 0-2, in '{tiny_cub}'): labels must be < "
        'num_classes. Set --cfg-options model.head.num_classes=3.')
    cfg.model.head.num_classes = 3
    assert class_count_problem(cfg, 'train_dataloader') is None
    # a model without num_classes (CMD pre-training) is not checked
    cfg.model.head = dict(type='CMDHead')
    assert class_count_problem(cfg, 'train_dataloader') is None
