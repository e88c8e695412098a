"""Invalid options fail at build time, naming the option."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cmd_plugin  # noqa: F401  (registers the components)
from cmd_plugin.apis.config_checks import check_config
from cmd_plugin.apis.training import run_training
from cmd_plugin.utils.validation import ConfigError
from mmpretrain.registry import HOOKS, MODELS, TRANSFORMS
from tiny_configs import TINY_MODELS, write_tiny_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(path for path in (ROOT / 'configs').rglob('*.py')
                 if '_base_' not in path.parts)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build in mmpretrain's scope, whatever runner an earlier test built."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def tiny_cmd(**head) -> dict:
    """A tiny CMD model config with head options replaced."""
    vit = dict(type='VisionTransformer', out_type='raw',
               **TINY_MODELS['vit']['backbone'])
    vit['arch'] = {k: v for k, v in vit['arch'].items() if k != '_delete_'}
    return dict(
        type='CMD', backbone=vit,
        neck=dict(type='MILNeck', **TINY_MODELS['vit']['neck']),
        head=dict(type='CMDHead', **{**TINY_MODELS['vit']['head'], **head}))


@pytest.mark.parametrize('registry, cfg, message', [
    (MODELS, dict(type='CMDHead', in_channels=8, share_mlp='no'),
     'CMDHead.share_mlp: must be True or False'),
    (MODELS, dict(type='CMDHead', in_channels=8, num_prototypes=True),
     'CMDHead.num_prototypes: must be an int >= 1'),
    (MODELS, dict(type='CMDHead', in_channels=8, centre_momentum=1.0),
     'CMDHead.centre_momentum: must be a number in \\[0, 1\\)'),
    (MODELS, dict(type='MILNeck', in_channels=8, attention='softmax'),
     "MILNeck.attention: unknown value 'softmax'. Valid choices are "
     "\\['gated', 'none'\\]"),
    (TRANSFORMS, dict(type='CMDMultiCrop', interpolation='cubic'),
     'CMDMultiCrop.interpolation: .*bicubic'),
    (TRANSFORMS, dict(type='CMDMultiCrop', global_pipelines=[dict()]),
     'CMDMultiCrop.global_pipelines\\[0\\]: must be a list'),
    (HOOKS, dict(type='TeacherMomentumHook', start=0.999, end=0.99),
     'TeacherMomentumHook.end: must be a number in \\[0.999, 1\\]'),
    (HOOKS, dict(type='TeacherTemperatureHook', warmup_epochs='30'),
     'TeacherTemperatureHook.warmup_epochs'),
    (HOOKS, dict(type='FreezePrototypesHook', epochs=1.5),
     'FreezePrototypesHook.epochs'),
    (MODELS, dict(type='CMDMultiCropPreprocessor', num_crops=12),
     "CMDMultiCropPreprocessor.num_crops: unknown option. Valid options are "
     "\['mean', 'std', 'to_rgb', 'non_blocking', 'global_size'"),
    (MODELS, dict(type='CMDMultiCropPreprocessor',
                  local_photometric=dict(solarise_prob=0.2)),
     'CMDMultiCropPreprocessor.local_photometric.solarise_prob: unknown '
     "option. Valid options are \['color_jitter_prob'"),
    (TRANSFORMS, dict(type='ResizeForDeviceCrops', size=-1),
     'ResizeForDeviceCrops.size: must be an int >= 1'),
])
def test_registry_build_names_class_and_argument(registry, cfg, message):
    with pytest.raises(ValueError, match=message):
        registry.build(cfg)


def test_cmd_options_through_models_build():
    with pytest.raises(ValueError, match='CMD.base_momentum: must be a '
                       "number in \\[0, 1\\], got '0.9'"):
        MODELS.build(dict(tiny_cmd(), base_momentum='0.9'))
    with pytest.raises(ValueError, match="CMDHead.matching: unknown value "
                       "'nearest'. Valid choices are \\['feature', "
                       "'geometric'\\]"):
        MODELS.build(tiny_cmd(matching='nearest'))


def test_runner_fails_at_build(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'bad_runner.py', 'vit', tiny_cub)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'model.head.weighting': 'attention'})
    cfg.work_dir = str(tmp_path / 'work')
    with pytest.raises(ValueError, match="CMDHead.weighting: unknown value "
                       "'attention'. Valid choices are "
                       "\\['uniform', 'mil'\\]"):
        Runner.from_cfg(cfg)


def test_check_config_lists_every_problem_by_key_path(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'bad_paths.py', 'vit', tiny_cub)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        'model.head.matching': 'nearest',
        'model.neck.atention': 'none',
        'model.head.in_channels': 48,
        'custom_hooks.3.start': 1.5,
        'train_dataloader.dataset.pipeline.1.global_pipelines': [[]] * 3,
    })
    with pytest.raises(ConfigError) as error:
        check_config(cfg)
    message = str(error.value)
    keys = sorted(line.strip().split(':')[0]
                  for line in message.splitlines()[1:])
    assert keys == [
        'custom_hooks[3].start', 'model.head.in_channels',
        'model.head.matching', 'model.neck.atention', 'model.num_global_crops'
    ]
    assert ("model.head.matching: unknown value 'nearest'. Valid choices "
            "are ['feature', 'geometric']") in message
    assert 'Valid arguments are [' in message
    assert ('must equal the number of global crops '
            'train_dataloader.dataset.pipeline[1] makes (3), got 2') in message


def test_device_multi_crop_config_checks(tiny_cub, tmp_path):
    """The device path: unknown options by key path, the number of global
    crops against CMD's, and crops made twice."""
    config = write_tiny_config(tmp_path / 'device.py', 'vit', tiny_cub,
                               device_aug=True)
    cfg = Config.fromfile(config)
    assert check_config(cfg) is None
    cfg.merge_from_dict({'data_preprocessor.blur_prob': 0.5})
    with pytest.raises(ConfigError, match="data_preprocessor.blur_prob: "
                       "unknown option. Valid options are \['mean'"):
        check_config(cfg)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'data_preprocessor.global_photometric': [{}] * 3})
    with pytest.raises(ConfigError,
                       match='model.num_global_crops: must equal the number '
                       'of global crops data_preprocessor makes \(3\)'):
        check_config(cfg)
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.pipeline = Config.fromfile(
        ROOT / 'configs' / 'cmd_vit-s_cub.py'
    ).train_dataloader.dataset.pipeline
    with pytest.raises(ConfigError, match='data_preprocessor: '
                       'CMDMultiCropPreprocessor makes the crops on the '
                       'device .* but train_dataloader.dataset.pipeline\[1\] '
                       'makes them in the loader already'):
        check_config(cfg)


@pytest.mark.parametrize(
    'config', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_shipped_configs_pass(config):
    check_config(Config.fromfile(config))


def test_training_fails_before_the_runner(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'bad_cli.py', 'vit', tiny_cub)
    work_dir = tmp_path / 'work'
    # a user error (tools/train.py: one message on stderr, exit status 2)
    with pytest.raises(ConfigError, match="model.head.matching: unknown "
                       "value 'nearest'. Valid choices are \\['feature', "
                       "'geometric'\\]"):
        run_training(str(config), str(work_dir),
                     {'model.head.matching': 'nearest'})
    assert not work_dir.exists()


UNTRAINED = ("inter_weight: 0 with model.neck.attention='gated', "
             "model.neck.embedding='cls' and model.head.weighting='mil'")


def test_untrained_mil_attention_fails_at_build():
    cfg = tiny_cmd(inter_weight=0.0)
    with pytest.raises(ValueError, match='CMD.head.' + UNTRAINED):
        MODELS.build(cfg)  # embedding read from the ViT: 'cls'
    for fix in (dict(head=dict(cfg['head'], weighting='uniform')),
                dict(neck=dict(cfg['neck'], attention='none')),
                dict(neck=dict(cfg['neck'], embedding='bag')),
                dict(head=dict(cfg['head'], inter_weight=0.5))):
        MODELS.build(dict(cfg, **fix))


def test_check_config_reports_untrained_mil_attention(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'untrained.py', 'vit', tiny_cub)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'model.head.inter_weight': 0.0,
                         'model.neck.embedding': 'cls'})
    with pytest.raises(ConfigError) as error:
        check_config(cfg)
    message = str(error.value)
    assert 'model.head.' + UNTRAINED in message
    assert "model.head.weighting='uniform'" in message
    cfg.merge_from_dict({'model.neck.embedding': 'bag'})
    check_config(cfg)
