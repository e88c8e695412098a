"""tools/gpu_check.sh: its CPU dry run, the wheel install, the JSON."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from tool_scripts import TOOLS, load_tool

SCRIPT = TOOLS / 'gpu_check.sh'


def run_script(args, tmp_path, **env):
    env = dict(os.environ, PYTHON=sys.executable, **env)
    return subprocess.run(['bash', str(SCRIPT)] + args, cwd=tmp_path,
                          env=env, capture_output=True, text=True,
                          timeout=1900)


def test_dry_run_writes_one_json_with_every_step(tmp_path):
    out = tmp_path / 'check' / 'gpu_check.json'
    done = run_script(['--dry-run', '--budget', '1800', '--out', str(out)],
                      tmp_path)
    assert out.is_file(), done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    steps = result['steps']
    assert list(steps) == ['tests', 'benchmark', 'loader', 'train']
    failed = {k: v['output_tail'][-1500:] for k, v in steps.items()
              if v['status'] != 'passed'}
    assert not failed
    assert result['ok'] is True and done.returncode == 0
    assert result['mode'] == 'dry' and result['environment']['cpu_count']
    # the tests ran and were counted
    assert steps['tests']['passed'] > 0 and steps['tests']['failed'] == []
    # CMD against DINO, both timed
    summary = steps['benchmark']['summary']
    assert summary['ratio_step_s'] > 0 and len(summary['runs']) == 2
    assert all(r['images_per_s'] > 0 for r in summary['runs'].values())
    # the loader with its workers
    assert steps['loader']['images_per_s'] > 0
    assert steps['loader']['num_workers'] == 2
    # the training run: every iteration logged, every loss finite
    train = steps['train']
    assert train['iterations'] == train['expected_iterations'] == 4
    assert train['finite'] is True
    assert {'loss', 'loss_img', 'loss_reg', 'loss_inter'} <= set(
        train['loss_terms'])


def fake_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (what pip download leaves)."""
    path = folder / 'gpu_check_probe-0.1-py3-none-any.whl'
    info = 'gpu_check_probe-0.1.dist-info'
    with zipfile.ZipFile(path, 'w') as whl:
        whl.writestr('gpu_check_probe/__init__.py', 'VALUE = 7\n')
        whl.writestr(f'{info}/METADATA', 'Metadata-Version: 2.1\n'
                     'Name: gpu-check-probe\nVersion: 0.1\n')
        whl.writestr(f'{info}/WHEEL', 'Wheel-Version: 1.0\nGenerator: test\n'
                     'Root-Is-Purelib: true\nTag: py3-none-any\n')
        whl.writestr(f'{info}/RECORD', '')
    return path


def test_wheels_are_installed_without_an_index(tmp_path):
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    fake_wheel(wheels)
    site, out = tmp_path / 'site', tmp_path / 'env.json'
    done = run_script(['--wheels', str(wheels), '--step', 'env', '--out',
                       str(out)], tmp_path, GPU_CHECK_SITE=str(site))
    assert done.returncode == 0, done.stderr[-2000:]
    install = json.loads(out.read_text())['install']
    assert install == dict(wheels=str(wheels), site=str(site),
                           pip_returncode='0')
    assert (site / 'gpu_check_probe' / '__init__.py').is_file()
    empty = tmp_path / 'empty'
    empty.mkdir()
    done = run_script(['--wheels', str(empty), '--dry-run'], tmp_path)
    assert done.returncode == 2 and 'no .whl files' in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs no GPU')
def test_a_real_check_without_a_gpu_says_so(tmp_path):
    out = tmp_path / 'gpu_check.json'
    done = subprocess.run(
        [sys.executable, str(TOOLS / 'gpu_check.py'), '--out', str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result['ok'] is False
    assert 'use --dry-run' in result['steps']['setup']['output_tail']


def test_junit_summary_counts_and_names_failures(tmp_path):
    report = tmp_path / 'r.xml'
    report.write_text(
        '<testsuites><testsuite tests="4" failures="1" errors="0" '
        'skipped="1"><testcase classname="a" name="test_ok"/>'
        '<testcase classname="a" name="test_on_gpu"/>'
        '<testcase classname="a" name="test_bad"><failure message="boom"/>'
        '</testcase><testcase classname="a" name="test_cuda_only">'
        '<skipped/></testcase></testsuite></testsuites>')
    summary = load_tool('gpu_check').junit_summary(report)
    assert (summary['tests'], summary['passed'], summary['failures'],
            summary['skipped']) == (4, 2, 1, 1)
    assert summary['failed'] == [dict(test='a::test_bad', message='boom')]
    assert summary['gpu_tests_passed'] == ['a::test_on_gpu']
