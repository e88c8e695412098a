"""The quality study (cmd_plugin.study, tools/study.py) end to end on tiny
generated data with a tiny backbone."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cmd_plugin.study import (Recipe, Sample, StudySetting,
                              carve_validation)
from cmd_plugin.utils import load_checkpoint_safely
from conftest import write_cub_layout
from tool_scripts import TOOLS


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


def tiny_setting(data: Path, out: Path, final: bool = False
                 ) -> StudySetting:
    """A 1-epoch setting of timm's test EfficientNet from scratch."""
    recipe = Recipe(arch='tiny-effnet', init='scratch', epochs=1,
                    image_size=32, batch_size=4, num_workers=0)
    return StudySetting(data, out, out / 'results', recipe, final=final)


def test_study_cub_layout_runs_and_resumes(tmp_path, capsys):
    data = write_cub_layout(tmp_path, num_classes=3, per_class=8, size=40)
    out = tmp_path / 'out'
    tiny_setting(data, out, final=True).run_all(['start', 'dino'], [0],
                                                'tiny cub')
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
    tiny_setting(data, out, final=True).run_all(['start', 'dino'], [0],
                                                'tiny cub')
    printed = capsys.readouterr().out
    assert printed.count('finished earlier, skipped') == 2
    assert json.loads((out / 'results/results.json').read_text()) == results


def test_study_image_folder_validation_split(tmp_path):
    data = write_image_folder(tmp_path / 'folder')
    out = tmp_path / 'out'
    tiny_setting(data, out).run_all(['start', 'dino', 'cmd'], [0],
                                    'tiny folder')
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
    samples = [Sample(f'{c}/{i}.jpg', c, 'train')
               for c in range(3) for i in range(10)]
    samples.append(Sample('t.jpg', 0, 'test'))
    split = carve_validation(samples, 0.2)
    assert split == carve_validation(samples, 0.2)
    for c in range(3):
        assert sum(s.split == 'val' and s.label == c for s in split) == 2
    assert split[-1].split == 'test'


def test_bad_data_folder_is_a_user_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(TOOLS / 'study.py'), '--data', str(tmp_path),
         '--out', str(tmp_path / 'o'), '--init', 'scratch', '--arch',
         'tiny-effnet'], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(
        f'study.py: error: --data {tmp_path} is neither the CUB-200-2011 '
        'layout')
    assert 'Traceback' not in done.stderr


def test_recipe_factors_reach_the_config_and_the_setting_name(tmp_path):
    data = write_cub_layout(tmp_path, num_classes=2, per_class=8, size=40)
    recipe = Recipe(epochs=10, backbone_lr_mult=0.3, frozen_blocks=4,
                    teacher_temp=0.04, num_prototypes=1024, output_stride=16,
                    batch_size=4)
    assert recipe.setting_name == (
        'effnet-lite0_imagenet-lite0_96px_b4_10e_lr0.3_frozen4_tt0.04_k1024_'
        'os16')
    setting = StudySetting(data, tmp_path / 'out', tmp_path / 'results',
                           recipe)
    setting.pretrained_weights = lambda: tmp_path / 'weights.pth'
    cfg = setting.config('cmd', 0, tmp_path / 'work')
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
    assert Recipe().setting_name == 'effnet-lite0_imagenet-lite0_96px_b16_1e'


@pytest.mark.parametrize('variant', ['cmd-geometric', 'cmd-no-reg',
                                     'cmd-no-inter'])
def test_ablation_variants_change_one_term(tmp_path, variant):
    data = write_cub_layout(tmp_path, num_classes=2, per_class=8, size=40)
    setting = tiny_setting(data, tmp_path / 'out')
    base = setting.config('cmd', 0, tmp_path / 'w').model.head
    head = setting.config(variant, 0, tmp_path / 'w').model.head
    changed = {k for k in set(base) | set(head) if base.get(k) != head.get(k)}
    assert changed == {{'cmd-geometric': 'matching', 'cmd-no-reg':
                        'reg_weight', 'cmd-no-inter': 'inter_weight'}[variant]}
