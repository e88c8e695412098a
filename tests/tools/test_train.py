"""Training (tools/train.py's run_training) end to end on a generated
CUB-layout folder."""
import json
import math
from pathlib import Path

import pytest

from cmd_plugin.apis.training import run_training
from tiny_configs import write_tiny_config


def logged_losses(work_dir: Path) -> list:
    """The scalars every logged iteration wrote to the json log."""
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert logs, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in logs[-1].read_text().splitlines()]


@pytest.mark.parametrize('arch', ['vit', 'swin', 'resnet'])
def test_train_one_epoch(arch, tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / f'tiny_{arch}.py', arch, tiny_cub)
    work_dir = tmp_path / 'work'
    run_training(str(config), str(work_dir))

    records = logged_losses(work_dir)
    assert records, 'nothing was logged'
    for key in ('loss_img', 'loss_reg', 'loss_inter'):
        values = [r[key] for r in records if key in r]
        assert values, f'{key} missing from the log'
        assert all(math.isfinite(v) for v in values)
    assert (work_dir / 'epoch_1.pth').is_file()


def test_train_one_epoch_with_the_crops_made_on_the_device(tiny_cub,
                                                           tmp_path):
    """configs/cmd_vit-s_cub_device-aug.py, shrunk: the loader resizes once,
    CMDMultiCropPreprocessor makes the crops, geometric matching reads its
    boxes."""
    config = write_tiny_config(
        tmp_path / 'tiny_device.py', 'vit', tiny_cub, device_aug=True,
        extra="model['head']['matching'] = 'geometric'")
    work_dir = tmp_path / 'work'
    run_training(str(config), str(work_dir))

    records = logged_losses(work_dir)
    for key in ('loss_img', 'loss_reg', 'loss_inter'):
        values = [r[key] for r in records if key in r]
        assert values and all(math.isfinite(v) for v in values), key
    # geometric matching paired student and teacher regions from the boxes
    assert any(r.get('diag/reg_pairs', 0) > 0 for r in records)
    assert (work_dir / 'epoch_1.pth').is_file()


def test_dino_baseline_logs_only_the_image_term(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'tiny_dino.py', 'vit', tiny_cub,
                               base='dino_vit-s_cub.py')
    work_dir = tmp_path / 'work'
    run_training(str(config), str(work_dir))
    records = logged_losses(work_dir)
    assert any('loss_img' in r for r in records)
    assert not any('loss_reg' in r or 'loss_inter' in r for r in records)
