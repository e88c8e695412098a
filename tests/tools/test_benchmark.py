"""tools/benchmark.py on tiny configs, CPU, one step each."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tiny_configs import write_tiny_config
from tool_scripts import load_tool

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs'



def tiny(tmp_path: Path, name: str, base: str,
         device_aug: bool = False) -> str:
    """A tiny ViT config inheriting ``configs/<base>``; no data is read."""
    return str(
        write_tiny_config(tmp_path / f'{name}.py', 'vit',
                          tmp_path / 'no_data', base=base,
                          device_aug=device_aug))


def is_positive(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def test_compare_writes_json_with_positive_figures(tmp_path):
    cmd = tiny(tmp_path, 'tiny_cmd', 'cmd_vit-s_cub.py')
    dino = tiny(tmp_path, 'tiny_dino', 'dino_vit-s_cub.py')
    out = tmp_path / 'bench.json'
    load_tool('benchmark').main([
        cmd, '--compare', dino, '--iters', '1', '--warmup', '0',
        '--batch-size', '2', '--device', 'cpu', '--num-local', '3',
        '--image-size', '80', '60', '--json', str(out)
    ])

    result = json.loads(out.read_text())
    assert [r['config'] for r in result['runs']] == [cmd, dino]
    for run in result['runs']:
        for key in ('step_s', 'images_per_s', 'peak_mem_mb',
                    'pipeline_s_per_image', 'flops_per_image',
                    'loader_cpu_ms_per_image', 'preprocess_s_per_step'):
            assert is_positive(run[key]), (key, run[key])
        assert run['step_s_iqr'] == 0  # one timed step
        assert len(run['step_s_all']) == 1
        assert run['images_per_s'] == pytest.approx(2 / run['step_s'])
        # --num-local replaced the config's 2 local crops (tiny pipeline)
        assert run['crop_sizes'] == [32, 32, 16, 16, 16]
        assert set(run['pipeline_s_per_transform']) == {
            'CMDMultiCrop', 'PackInputs'
        }
        assert run['mfu'] is None  # no peak FLOP/s known for a CPU
    cmd_run, dino_run = result['runs']
    # CMD projects every region through the head, DINO only the cls token
    assert cmd_run['flops_per_image'] > dino_run['flops_per_image']
    assert result['ratio_step_s'] == pytest.approx(cmd_run['step_s'] /
                                                   dino_run['step_s'])
    # one step each: the paired ratio is the same number
    assert result['ratio_step_s_paired'] == pytest.approx(
        result['ratio_step_s'])
    machine = result['machine']
    assert machine['device'] == 'cpu'
    assert machine['threads'] >= 1
    assert machine['cpu'] and machine['torch']


def test_device_path_against_cpu_path(tmp_path):
    """The crops made by CMDMultiCropPreprocessor: the loader only resizes
    (cheaper per image), the preprocessor's time moves into the step."""
    device = tiny(tmp_path, 'tiny_device', 'cmd_vit-s_cub_device-aug.py',
                  device_aug=True)
    cpu = tiny(tmp_path, 'tiny_cpu', 'cmd_vit-s_cub.py')
    result = load_tool('benchmark').main([
        device, '--compare', cpu, '--iters', '2', '--warmup', '0',
        '--batch-size', '2', '--num-local', '3', '--image-size', '80', '60'
    ])
    on_device, on_cpu = result['runs']
    assert on_device['crops_on_device'] and not on_cpu['crops_on_device']
    assert on_device['crop_sizes'] == on_cpu['crop_sizes'] == [32, 32, 16,
                                                               16, 16]
    assert set(on_device['pipeline_s_per_transform']) == {
        'ResizeForDeviceCrops', 'PackInputs'
    }
    for run in result['runs']:
        assert is_positive(run['loader_cpu_ms_per_image'])
        assert is_positive(run['preprocess_s_per_step'])
        assert run['preprocess_s_per_step'] < run['step_s']
    assert on_device['preprocess_s_per_step'] > on_cpu['preprocess_s_per_step']


def test_crops_made_twice_stop_with_a_message(tmp_path):
    config = tmp_path / 'twice.py'
    config.write_text(
        f"_base_ = {str(CONFIGS / 'cmd_vit-s_cub_device-aug.py')!r}\n"
        "train_dataloader = dict(dataset=dict(pipeline=[\n"
        "    dict(type='CMDMultiCrop'), dict(type='PackInputs')]))\n")
    with pytest.raises(SystemExit, match='the crops must be made once'):
        load_tool('benchmark').main([str(config), '--iters', '1'])


def test_compare_cfg_options_apply_to_the_second_config_only(tmp_path):
    cmd = tiny(tmp_path, 'tiny_cmd', 'cmd_vit-s_cub.py')
    result = load_tool('benchmark').main([
        cmd, '--compare', cmd, '--iters', '1', '--warmup', '0',
        '--image-size', '48', '48', '--compare-cfg-options',
        'model.neck.attention=none', 'model.head.reg_weight=0',
        'model.head.inter_weight=0'
    ])
    first, second = result['runs']
    assert first['cfg_options'] == {}
    assert second['cfg_options'] == {
        'model.neck.attention': 'none',
        'model.head.reg_weight': 0,
        'model.head.inter_weight': 0,
    }
    # the DINO variant has no gated-attention parameters
    assert second['params_m'] < first['params_m']


def test_cuda_without_gpu_stops_with_a_message(tmp_path, monkeypatch):
    tool = load_tool('benchmark')
    monkeypatch.setattr(tool.torch.cuda, 'is_available', lambda: False)
    cmd = tiny(tmp_path, 'tiny_cmd', 'cmd_vit-s_cub.py')
    with pytest.raises(SystemExit, match='no CUDA GPU'):
        tool.main([cmd, '--device', 'cuda', '--iters', '1'])


def test_non_cmd_model_stops_with_a_message(tmp_path):
    config = tmp_path / 'classifier.py'
    config.write_text(
        "model = dict(type='ImageClassifier', "
        "backbone=dict(type='ResNet', depth=18))\n")
    with pytest.raises(SystemExit, match="'ImageClassifier', not CMD"):
        load_tool('benchmark').main([str(config), '--iters', '1'])


def test_missing_config_stops_with_a_message(tmp_path):
    with pytest.raises(SystemExit, match='Config file not found'):
        load_tool('benchmark').main([str(tmp_path / 'nope.py'), '--iters', '1'])


def test_real_pipeline_runs_without_its_loading_transform():
    tool = load_tool('benchmark')
    cfg = tool.load_config(str(CONFIGS / 'cmd_vit-s_cub.py'), {}, 3)
    pipeline = tool.build_pipeline(cfg)
    assert [type(t).__name__ for t in pipeline] == ['CMDMultiCrop',
                                                    'PackInputs']
    image = np.zeros((375, 500, 3), dtype=np.uint8)
    batches, times = tool.make_batches(pipeline, image, batch_size=2,
                                       num_batches=1)
    inputs = batches[0]['inputs']
    assert [tuple(x.shape) for x in inputs] == [(2, 3, 224, 224)] * 2 + [
        (2, 3, 96, 96)
    ] * 3
    assert all(len(v) == 2 for v in times.values())
