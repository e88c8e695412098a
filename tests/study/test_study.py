"""tools/study.py end to end on tiny generated data with a tiny backbone."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cmd_plugin.utils import load_checkpoint_safely
from conftest import write_cub_layout
from tool_scripts import load_tool

study = load_tool('study')


def write_image_folder(root: Path, num_classes: int = 3, per_split: int = 4,
                       size: int = 40) -> Path:
    """``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, one colour each."""
    rng = np.random.default_rng(1)
    for c in range(num_classes):
        colour = rng.integers(0, 256, size=3)
        for split in ('train', 'test'):
            folder = root / split / f'class_{c}'
            folder.mkdir(parents=True)
            for k in range(per_split):
                noise = rng.integers(-40, 40, size=(size, size, 3))
                pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f'{k}.jpg')
    return root


def study_args(data: Path, out: Path, *extra: str) -> list:
    return [
        '--data', str(data), '--out', str(out), '--results',
        str(out / 'results'), '--arch', 'tiny-effnet',
        '--init', 'scratch', '--epochs', '1', '--image-size', '32',
        '--batch-size', '4', '--num-workers', '0', '--seeds', '0', *extra
    ]


def test_study_cub_layout_runs_and_resumes(tmp_path, capsys):
    data = write_cub_layout(tmp_path, num_classes=3, per_class=8, size=40)
    out = tmp_path / 'out'
    study.main(study_args(data, out, '--variants', 'start', 'dino',
                          '--final'))
    results = json.loads((out / 'results/results.json').read_text())
    runs = {run['variant']: run for run in results['runs']}
    assert sorted(runs) == ['dino', 'start']
    for run in runs.values():
        assert run['protocol'] == 'test'
        assert set(run['metrics']) == {'linear_top1', 'knn_top1', 'rank1',
                                       'mAP'}
        # the percentages are the per-image hits of the 12 test images
        for key in ('linear_top1', 'rank1'):
            hits = run['per_image'][key]
            assert len(hits) == 12
            assert run['metrics'][key] == pytest.approx(
                100 * hits.count('1') / 12)
        assert 'TIMMBackbone' in run['config']
    assert runs['start']['seed'] is None and runs['dino']['seed'] == 0
    # the tiny DINO run really trained: its student moved away from the
    # teacher (both start equal; the EMA teacher lags behind)
    ckpts = list((out / 'runs/test').glob('*/dino_seed0/*.pth'))
    assert ckpts
    weights = load_checkpoint_safely(ckpts[0])['state_dict']
    moved = [
        not torch.equal(weights[key], weights['teacher.' + key])
        for key in weights
        if key.startswith('backbone.') and weights[key].is_floating_point()
    ]
    assert any(moved)
    table = (out / 'results/results.md').read_text()
    assert '| start | - |' in table and '| dino | 0 |' in table
    assert 'official test split' in table

    capsys.readouterr()
    study.main(study_args(data, out, '--variants', 'start', 'dino',
                          '--final'))
    printed = capsys.readouterr().out
    assert printed.count('finished earlier, skipped') == 2
    assert json.loads((out / 'results/results.json').read_text()) == results


def test_study_image_folder_validation_split(tmp_path):
    data = write_image_folder(tmp_path / 'folder')
    out = tmp_path / 'out'
    study.main(study_args(data, out, '--variants', 'start', 'dino', 'cmd',
                          '--data-name', 'tiny folder'))
    runs = json.loads((out / 'results/results.json').read_text())['runs']
    assert {r['variant'] for r in runs} == {'start', 'dino', 'cmd'}
    for run in runs:
        # per-image hits of the 3 validation images, consistent with the
        # percentages
        hits = run['per_image']['linear_top1']
        assert len(hits) == 3 and set(hits) <= {'0', '1'}
        assert run['metrics']['linear_top1'] == pytest.approx(
            100 * hits.count('1') / 3)
        assert run['metrics']['rank1'] == pytest.approx(
            100 * run['per_image']['rank1'].count('1') / 3)
    assert {r['protocol'] for r in runs} == {'val'}
    table = (out / 'results/results.md').read_text()
    assert 'tiny folder' in table and 'validation split' in table
    assert '| cmd - dino | 0 |' in table and '95 % CI' in table
    # 20% of 4 train images per class -> 1 val image per class
    pretrain = (out / 'splits/val_pretrain.txt').read_text().split()
    assert len(pretrain) == 9 and all(p.startswith('train/') for p in pretrain)


def test_carve_validation_is_per_class_and_fixed():
    samples = [study.Sample(f'{c}/{i}.jpg', c, 'train')
               for c in range(3) for i in range(10)]
    samples.append(study.Sample('t.jpg', 0, 'test'))
    split = study.carve_validation(samples, 0.2)
    assert split == study.carve_validation(samples, 0.2)
    for c in range(3):
        assert sum(s.split == 'val' and s.label == c for s in split) == 2
    assert split[-1].split == 'test'


def test_bad_data_folder_is_named(tmp_path):
    with pytest.raises(SystemExit, match='neither the CUB-200-2011 layout'):
        study.main(['--data', str(tmp_path), '--out', str(tmp_path / 'o'),
                    '--init', 'scratch', '--arch', 'tiny-effnet'])


def test_recipe_factors_reach_the_config_and_the_setting_name(tmp_path):
    data = write_cub_layout(tmp_path, num_classes=2, per_class=8, size=40)
    args = study.parse_args([
        '--data', str(data), '--out', str(tmp_path / 'out'), '--epochs', '10',
        '--backbone-lr-mult', '0.3', '--frozen-blocks', '4',
        '--teacher-temp', '0.04', '--num-prototypes', '1024',
        '--output-stride', '16', '--batch-size', '4'
    ])
    name = study.setting_name(args)
    assert name == ('effnet-lite0_imagenet-lite0_96px_b4_10e_lr0.3_frozen4_'
                    'tt0.04_k1024_os16')
    run = study.Study(args)
    run.pretrained_weights = lambda: tmp_path / 'weights.pth'
    cfg = run.config('cmd', 0, tmp_path / 'work')
    assert cfg.model.head.num_prototypes == 1024
    assert cfg.model.backbone.output_stride == 16
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 0.3
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert hooks['TeacherTemperatureHook']['end'] == 0.04
    assert hooks['TeacherTemperatureHook']['warmup_epochs'] == 3
    assert hooks['FreezeBackboneHook']['frozen_prefixes'] == [
        'timm_model.conv_stem', 'timm_model.bn1', 'timm_model.blocks.0',
        'timm_model.blocks.1', 'timm_model.blocks.2', 'timm_model.blocks.3'
    ]
    default = study.parse_args(['--data', str(data), '--out', 'o'])
    assert study.setting_name(default) == \
        'effnet-lite0_imagenet-lite0_96px_b16_1e'
