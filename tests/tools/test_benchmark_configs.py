"""configs/benchmarks: every config builds; tiny end-to-end evaluations.

End to end, on the generated CUB-layout folder: a 1-epoch tiny CMD
pre-training through tools/train.py, then retrieval and k-NN through
tools/test.py on its checkpoint, and a 1-epoch linear probe through
tools/train.py and tools/test.py.
"""
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import cmd_plugin  # noqa: F401
from cmd_plugin.apis.training import evaluate_checkpoint, run_training
from cmd_plugin.models.utils.backbone_probe import probe_backbone
from cmd_plugin.utils import load_checkpoint_safely
from cmd_plugin.utils.user_errors import UserError
from conftest import write_cub_layout
from mmpretrain.registry import DATASETS, MODELS
from reference_metrics import collect_features, expected_metrics
from tiny_configs import TINY_MODELS, write_tiny_config

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / 'configs' / 'benchmarks'
CONFIG_FILES = sorted(p.name for p in BENCHMARKS.glob('*.py'))
ARCHS = {'vit-s': 'vit', 'swin-t': 'swin', 'resnet50': 'resnet'}
PRETRAIN_CONFIGS = {
    'vit-s': 'cmd_vit-s_cub.py',
    'swin-t': 'cmd_swin-t_cub.py',
    'resnet50': 'cmd_resnet50_cub.py',
}
NUM_CLASSES = {'cub': 200, 'cars': 196, 'aircraft': 100}
TINY_CLASSES = ['Class_1', 'Class_2', 'Class_3']  # the tiny_cub fixture

# The tiny pre-training models of tiny_configs.py, seen by the benchmark
# models: the feature extractor takes backbone and neck as they are; the
# linear probe freezes every stage and reads the backbone's width.
TINY_FEATURE_MODELS = {
    arch: dict(backbone=TINY_MODELS[arch]['backbone'],
               neck=TINY_MODELS[arch]['neck'])
    for arch in ARCHS.values()
}
TINY_LINEAR_MODELS = {
    'vit': dict(backbone=dict(TINY_MODELS['vit']['backbone'],
                              frozen_stages=2),
                head=dict(in_channels=32)),
    'swin': dict(backbone=dict(TINY_MODELS['swin']['backbone'],
                               frozen_stages=3),
                 head=dict(in_channels=64)),
    'resnet': dict(backbone=dict(TINY_MODELS['resnet']['backbone']),
                   head=dict(in_channels=64)),
}
TINY_SIZE = {'vit': 32, 'swin': 64, 'resnet': 32}



def parse_name(config: str) -> tuple:
    """``'linear_vit-s_cub.py'`` -> ``('linear', 'vit-s', 'cub')``."""
    protocol, arch, dataset = Path(config).stem.split('_')
    return protocol, arch, dataset


def test_every_protocol_arch_and_dataset_has_a_config():
    expected = {f'{protocol}_{arch}_cub.py'
                for protocol in ('linear', 'retrieval', 'knn')
                for arch in ARCHS}
    expected |= {f'{protocol}_vit-s_{dataset}.py'
                 for protocol in ('linear', 'retrieval', 'knn')
                 for dataset in ('cars', 'aircraft')}
    assert set(CONFIG_FILES) == expected


def tiny_override(config: str) -> Config:
    """The benchmark config with its model shrunk to the tiny one."""
    protocol, arch, _ = parse_name(config)
    models = TINY_LINEAR_MODELS if protocol == 'linear' else (
        TINY_FEATURE_MODELS)
    text = (f'_base_ = {str(BENCHMARKS / config)!r}\n'
            f'model = {models[ARCHS[arch]]!r}\n')
    return Config.fromstring(text, '.py')


@pytest.mark.parametrize('config', CONFIG_FILES)
def test_config_loads_and_builds(config):
    protocol, arch, dataset = parse_name(config)
    cfg = Config.fromfile(BENCHMARKS / config)
    assert cfg.custom_imports['imports'] == ['cmd_plugin']
    if protocol == 'linear':
        assert cfg.model.type == 'ImageClassifier'
        init = cfg.model.init_cfg
        assert init.type == 'CMDPretrained' and init.network == 'teacher'
        # where tools/train.py writes the pre-training config's last epoch
        assert init.checkpoint == (
            f'work_dirs/cmd_{arch}_{dataset}/epoch_100.pth')
        assert 'init_cfg' not in cfg.model.backbone
        # num_classes fits the dataset the config trains on
        dataset_cls = DATASETS.get(cfg.train_dataloader.dataset.type)
        assert cfg.model.head.num_classes == NUM_CLASSES[dataset] == len(
            dataset_cls.METAINFO['classes'])
        assert cfg.val_dataloader.dataset.split == 'test'
        assert cfg.test_dataloader.dataset.split == 'test'
        assert cfg.val_evaluator == dict(type='Accuracy', topk=(1, 5))
    else:
        assert cfg.model.type == 'CMDFeatureExtractor'
        assert cfg.model.network == 'teacher'
        # backbone and neck are those of the pre-training config
        pretrain = Config.fromfile(ROOT / 'configs' / PRETRAIN_CONFIGS[arch])
        assert cfg.model.backbone == pretrain.model.backbone
        assert cfg.model.neck == pretrain.model.neck
        splits = cfg.test_dataloader.dataset
        assert splits.type == 'LabelledSplits'
        assert splits.train.data_root == splits.test.data_root
        assert splits.test.split == 'test'
        metrics = {(e.type, e.get('protocol')) for e in cfg.test_evaluator}
        expected = {('KNNAccuracy', None)}
        if protocol == 'retrieval':
            expected |= {('FineGrainedRetrieval', 'leave_one_out'),
                         ('FineGrainedRetrieval', 'cmd_official')}
        assert metrics == expected

    tiny = tiny_override(config)
    size = TINY_SIZE[ARCHS[arch]]
    if protocol != 'linear':
        tiny.model.allow_random_weights = True
    model = MODELS.build(tiny.model)
    model.train()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size), mode='tensor')
    if protocol == 'linear':
        assert out.shape == (2, NUM_CLASSES[dataset])
        assert not any(p.requires_grad for p in model.backbone.parameters())
        assert all(p.requires_grad for p in model.head.parameters())
    else:
        assert out.shape[0] == 2 and out.dim() == 2


@pytest.mark.parametrize('arch', list(ARCHS))
def test_real_size_linear_backbone_fits_the_pretraining_backbone(arch):
    """The strict CMDPretrained load needs the same keys and shapes."""
    linear = Config.fromfile(BENCHMARKS / f'linear_{arch}_cub.py')
    pretrain = Config.fromfile(ROOT / 'configs' / PRETRAIN_CONFIGS[arch])
    backbone = MODELS.build(linear.model.backbone)
    pretrained = MODELS.build(pretrain.model.backbone)
    reference = pretrained.state_dict()
    # the head reads the backbone's width, as the pre-training head does
    # (which CMD reads from the backbone's output)
    assert linear.model.head.in_channels == probe_backbone(
        pretrained).channels
    assert {k: v.shape for k, v in backbone.state_dict().items()} == {
        k: v.shape for k, v in reference.items()}
    backbone.train()
    assert not any(p.requires_grad for p in backbone.parameters())


# ---------------------------------------------------------------- end to end


def tiny_test_pipeline(size: int) -> list:
    return [
        dict(type='LoadImageRobust', on_bad_image='raise'),
        dict(type='ResizeEdge', scale=size + size // 8, edge='short'),
        dict(type='CenterCrop', crop_size=size),
        dict(type='PackInputs'),
    ]


def tiny_loader(dataset: dict) -> dict:
    return dict(batch_size=4, num_workers=0, persistent_workers=False,
                dataset=dataset)


def write_tiny_benchmark(path: Path, config: str, data_root: Path,
                         model: dict, extra: str = '') -> Path:
    """A benchmark config on the tiny CUB folder (3 classes, 32 px)."""
    protocol = parse_name(config)[0]
    split = dict(data_root=str(data_root), metainfo=dict(
        classes=TINY_CLASSES), pipeline=tiny_test_pipeline(32))
    if protocol == 'linear':
        train_pipeline = [
            dict(type='LoadImageRobust', on_bad_image='skip'),
            dict(type='RandomResizedCrop', scale=32),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs'),
        ]
        data = f"""
train_dataloader = {tiny_loader(dict(split, pipeline=train_pipeline))!r}
val_dataloader = {tiny_loader(split)!r}
test_dataloader = val_dataloader
# 3 classes: top-5 accuracy is undefined
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1))
"""
    else:
        data = (f'test_dataloader = '
                f'{tiny_loader(dict(train=split, test=split))!r}\n')
    path.write_text(
        f'_base_ = {str(BENCHMARKS / config)!r}\n'
        f'model = {model!r}\n{data}'
        f'randomness = dict(seed=0, deterministic=True)\n'
        # one default scope per runner (see tiny_configs.py)
        f'experiment_name = {path.stem + "_" + uuid.uuid4().hex[:8]!r}\n'
        f'{extra}\n')
    return path


@pytest.fixture(scope='module')
def pretrained(tiny_cub, tmp_path_factory) -> Path:
    """A 1-epoch tiny CMD ViT pre-training checkpoint on the tiny folder."""
    work = tmp_path_factory.mktemp('pretrain')
    config = write_tiny_config(work / 'tiny_cmd.py', 'vit', tiny_cub)
    run_training(str(config), str(work / 'run'))
    checkpoint = work / 'run' / 'epoch_1.pth'
    assert checkpoint.is_file()
    return checkpoint


def reference_runner(config: Path, checkpoint: Path, work_dir: Path) -> Runner:
    """A fresh runner of ``config`` that has tested ``checkpoint``: its
    model and test loader give the reference values."""
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    cfg.load_from = str(checkpoint)
    cfg.experiment_name = f'reference_{uuid.uuid4().hex[:8]}'
    runner = Runner.from_cfg(cfg)
    runner.test()
    return runner


def logged_text(work_dir: Path) -> str:
    logs = sorted(work_dir.glob('*/*.log'))
    assert logs, f'no log under {work_dir}'
    return logs[-1].read_text()


@pytest.mark.parametrize('config, keys', [
    ('retrieval_vit-s_cub.py', [
        'retrieval/loo/rank1', 'retrieval/loo/recall@1',
        'retrieval/loo/recall@8', 'retrieval/loo/mAP',
        'retrieval/cmd_official/rank1', 'retrieval/cmd_official/mAP@100',
        'knn/top1'
    ]),
    ('knn_vit-s_cub.py', ['knn/top1']),
])
def test_feature_protocols_on_the_pretraining_checkpoint(
        config, keys, pretrained, tmp_path):
    # evaluated on plain-noise images: metrics between 0 and 100
    noise = write_cub_layout(tmp_path, class_colour=False)
    tiny = write_tiny_benchmark(tmp_path / f'tiny_{Path(config).stem}.py',
                                config, noise, TINY_FEATURE_MODELS['vit'])
    work_dir = tmp_path / 'work'
    metrics = evaluate_checkpoint(str(tiny), str(pretrained), str(work_dir))
    for key in keys:
        assert key in metrics, f'{key} missing from {sorted(metrics)}'
    # the values of the teacher's features, recomputed with plain loops
    runner = reference_runner(tiny, pretrained, tmp_path / 'reference')
    feats, labels, splits = collect_features(runner.model,
                                             runner.test_dataloader)
    expected = expected_metrics(feats, labels, splits)
    checked = [key for key in keys if key in expected]
    assert 'knn/top1' in checked and len(checked) >= len(keys) // 2
    for key in checked:
        assert metrics[key] == pytest.approx(expected[key], abs=1e-4), key
    if 'retrieval/loo/mAP' in keys:  # noise: neither none nor all found
        assert 0 < metrics['retrieval/loo/mAP'] < 100
    log = logged_text(work_dir)
    assert all(f'{key}: ' in log for key in keys), log[-2000:]


def test_retrieval_on_a_mismatched_checkpoint_names_the_keys(
        pretrained, tiny_cub, tmp_path):
    deeper = dict(TINY_FEATURE_MODELS['vit'],
                  backbone=dict(TINY_MODELS['vit']['backbone'],
                                arch=dict(TINY_MODELS['vit']['backbone']
                                          ['arch'], num_layers=3)))
    tiny = write_tiny_benchmark(tmp_path / 'tiny_mismatch.py',
                                'retrieval_vit-s_cub.py', tiny_cub, deeper)
    # a user error (tools/test.py: one message, exit status 2)
    with pytest.raises(UserError) as info:
        evaluate_checkpoint(str(tiny), str(pretrained),
                            str(tmp_path / 'work'))
    message = str(info.value)
    assert "missing keys 'backbone.layers.2." in message
    assert 'teacher' in message and 'model.backbone' in message


def test_linear_probe_trains_on_the_frozen_teacher(pretrained, tiny_cub,
                                                   tmp_path):
    model = dict(TINY_LINEAR_MODELS['vit'],
                 head=dict(TINY_LINEAR_MODELS['vit']['head'],
                           num_classes=len(TINY_CLASSES)))
    tiny = write_tiny_benchmark(tmp_path / 'tiny_linear.py',
                                'linear_vit-s_cub.py', tiny_cub, model)
    work_dir = tmp_path / 'work'
    run_training(str(tiny), str(work_dir),
                 {'model.init_cfg.checkpoint': str(pretrained)})
    assert 'CMDPretrained: loaded the backbone from the teacher' in (
        logged_text(work_dir))

    # the probe's backbone is the pre-training teacher's, untouched
    linear = load_checkpoint_safely(work_dir / 'epoch_1.pth')['state_dict']
    cmd = load_checkpoint_safely(pretrained)['state_dict']
    teacher = {k[len('teacher.'):]: v for k, v in cmd.items()
               if k.startswith('teacher.backbone.')}
    probe = {k: v for k, v in linear.items() if k.startswith('backbone.')}
    assert sorted(probe) == sorted(teacher)
    for key, value in probe.items():
        torch.testing.assert_close(value, teacher[key], msg=key)
    assert linear['head.fc.weight'].shape == (len(TINY_CLASSES), 32)

    metrics = evaluate_checkpoint(str(tiny), str(work_dir / 'epoch_1.pth'),
                                  str(tmp_path / 'test'))
    # the share of the 6 test images the probe's checkpoint gets right
    runner = reference_runner(tiny, work_dir / 'epoch_1.pth',
                           tmp_path / 'reference')
    hits = []
    with torch.no_grad():
        for data in runner.test_dataloader:
            hits += [int(s.pred_label) == int(s.gt_label)
                     for s in runner.model.test_step(data)]
    assert len(hits) == 6
    assert metrics['accuracy/top1'] == pytest.approx(100 * sum(hits) / 6)
