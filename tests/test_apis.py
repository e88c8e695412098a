"""cmd_plugin.apis: find_transform, build_model, network_modules."""
import pytest
import torch

from cmd_checkpoints import TINY_HEAD, TINY_NECK, TINY_VIT, save_cmd_checkpoint
from cmd_plugin.apis import (NETWORKS, NotCMDConfigError, build_model,
                             find_transform, network_modules, train_pipeline)
from cmd_plugin.models.utils.cmd_checkpoint import CheckpointMismatchError
from cmd_plugin.utils.user_errors import UserError
from cmd_plugin.utils.validation import ConfigError

CROP = dict(type='mmpretrain.CMDMultiCrop', global_size=32, num_local=2,
            local_size=16)
PACK = dict(type='PackInputs')
TINY_CMD = dict(model=dict(type='CMD', backbone=TINY_VIT, neck=TINY_NECK,
                           head=TINY_HEAD))


def loader(dataset: dict) -> dict:
    return dict(train_dataloader=dict(dataset=dataset))


def test_find_transform_looks_through_wrappers_and_the_scope():
    inner = dict(type='CustomDataset', pipeline=[dict(type='LoadImageRobust'),
                                                 dict(CROP), PACK])
    other = dict(type='CustomDataset', pipeline=[PACK])
    cfg = loader(dict(type='RepeatDataset', times=2, dataset=dict(
        type='ConcatDataset', datasets=[other, inner])))

    found = find_transform(cfg, 'CMDMultiCrop')
    assert found is inner['pipeline'][1]  # the config itself, to change
    found['num_local'] = 4
    assert inner['pipeline'][1]['num_local'] == 4
    assert find_transform(inner['pipeline'], 'CMDMultiCrop') is found
    assert find_transform(cfg, 'Resize', required=False) is None


def test_a_missing_transform_names_the_pipelines_searched():
    cfg = loader(dict(type='RepeatDataset', times=2,
                      dataset=dict(type='CUB', pipeline=[PACK])))
    with pytest.raises(ConfigError,
                       match=r'train_dataloader\.dataset\.dataset\.pipeline: '
                       'no CMDMultiCrop'):
        find_transform(cfg, 'CMDMultiCrop')
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset: no '
                       'pipeline found'):
        find_transform(loader(dict(type='CUB')), 'CMDMultiCrop')
    assert find_transform(dict(model=dict()), 'CMDMultiCrop',
                          required=False) is None


def test_two_matches_are_an_error_naming_both():
    cfg = loader(dict(type='ConcatDataset', datasets=[
        dict(pipeline=[CROP]), dict(pipeline=[PACK, dict(type='CMDMultiCrop')])
    ]))
    with pytest.raises(ConfigError, match=r'more than once: '
                       r'train_dataloader\.dataset\.datasets\[0\]\.pipeline'
                       r'\[0\], train_dataloader\.dataset\.datasets\[1\]'
                       r'\.pipeline\[1\]'):
        find_transform(cfg, 'CMDMultiCrop')
    with pytest.raises(ConfigError, match='2 pipelines'):
        train_pipeline(cfg)


def test_build_model_loads_a_checkpoint_and_selects_a_network(tmp_path):
    path = tmp_path / 'cmd.pth'
    saved = save_cmd_checkpoint(path)  # its teacher differs from its student

    model = build_model(TINY_CMD, str(path))
    assert not model.training
    for key, value in saved.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        bags = {
            network: neck(backbone(images)).bag
            for network in NETWORKS
            for backbone, neck in [network_modules(model, network)]
        }
    assert network_modules(model, 'teacher')[0] is model.teacher.backbone
    assert network_modules(model, 'student')[1] is model.neck
    assert not torch.allclose(bags['teacher'], bags['student'])
    with pytest.raises(ValueError, match="network: unknown value 'ema'"):
        network_modules(model, 'ema')


def test_build_model_without_a_checkpoint_initialises(tmp_path):
    torch.manual_seed(0)
    first = build_model(TINY_CMD).state_dict()
    torch.manual_seed(0)
    second = build_model(TINY_CMD).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    # the EMA teacher starts as a copy of the student
    assert torch.equal(first['teacher.backbone.cls_token'],
                       first['backbone.cls_token'])


def test_build_model_errors_name_the_problem(tmp_path):
    with pytest.raises(NotCMDConfigError,
                       match="model.type is 'ImageClassifier', not CMD"):
        build_model(dict(model=dict(type='ImageClassifier')))
    with pytest.raises(UserError, match=r"checkpoint: checkpoint file "
                       r".*missing\.pth' does not exist"):
        build_model(TINY_CMD, str(tmp_path / 'missing.pth'))
    path = tmp_path / 'cmd.pth'
    save_cmd_checkpoint(path)
    wider = dict(model=dict(TINY_CMD['model'],
                            head=dict(TINY_HEAD, num_prototypes=32)))
    with pytest.raises(CheckpointMismatchError,
                       match=r'CMD cannot load .*cmd\.pth.*prototypes'):
        build_model(wider, str(path))
