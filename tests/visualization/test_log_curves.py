"""Training curves from scalars.json, and tools/plot_log.py."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cmd_plugin.visualization import plot_curves, read_curves

ROOT = Path(__file__).resolve().parents[2]


def write_log(work_dir: Path, values) -> Path:
    path = work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    lines = [json.dumps({'loss': v, 'diag/kl_img': v / 2, 'iter': 10 * i,
                         'epoch': 1, 'mode': 'train'})
             for i, v in enumerate(values, 1)]
    lines.insert(1, json.dumps({'accuracy/top1': 50.0, 'step': 1}))
    path.write_text('\n'.join(lines) + '\n')
    return path


def test_read_curves_by_iteration(tmp_path):
    write_log(tmp_path / 'run', [3.0, 2.0, 1.5])
    curves = read_curves(tmp_path / 'run')
    assert curves['loss'] == ([10, 20, 30], [3.0, 2.0, 1.5])
    assert curves['diag/kl_img'][1] == [1.5, 1.0, 0.75]
    assert 'accuracy/top1' not in curves and 'mode' not in curves


def test_plot_two_runs_and_unknown_key(tmp_path):
    runs = {'dino': read_curves(write_log(tmp_path / 'a', [3, 2, 1])),
            'cmd': read_curves(write_log(tmp_path / 'b', [3, 1, 0.5]))}
    out = plot_curves(runs, ['loss', 'diag/kl_img'], tmp_path / 'c.png',
                      reference={'loss': 2.5})
    with Image.open(out) as img:
        assert img.width > 300 and img.height > 150
    with pytest.raises(KeyError, match="'nope'.*available"):
        plot_curves(runs, ['nope'], tmp_path / 'd.png')


def test_cli_writes_png_and_names_a_bad_folder(tmp_path):
    write_log(tmp_path / 'run', [3.0, 2.0])
    out = tmp_path / 'curves.png'
    done = subprocess.run(
        [sys.executable, 'tools/plot_log.py', str(tmp_path / 'run'),
         '--out', str(out), '--prototypes', '64'],
        cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    bad = subprocess.run(
        [sys.executable, 'tools/plot_log.py', str(tmp_path / 'empty')],
        cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2
    assert 'no vis_data/scalars.json' in bad.stderr
    assert 'Traceback' not in bad.stderr
