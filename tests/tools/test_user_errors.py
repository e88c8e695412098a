"""User errors of training, testing and the tools: one message naming the
flag or key, no work dir left behind; on the command line exit status 2 and
no traceback.

The messages come from the package (``run_training``,
``evaluate_checkpoint``: what tools/train.py and tools/test.py run); the
command lines themselves run as processes.
"""
import os
import subprocess
import sys

import pytest

from cmd_plugin.apis.training import evaluate_checkpoint, run_training
from cmd_plugin.utils.user_errors import UserError
from tiny_configs import CONFIGS, write_tiny_config
from tool_scripts import TOOLS


def fails_with(run, *args, **kwargs) -> str:
    """Call ``run``, expect a user error; return its message."""
    with pytest.raises(UserError) as error:
        run(*[os.fspath(a) if isinstance(a, os.PathLike) else a
              for a in args], **kwargs)
    return str(error.value)


def test_resume_with_nothing_to_resume(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    work_dir = tmp_path / 'work'
    err = fails_with(run_training, config, work_dir, resume='auto')
    assert err.startswith(
        f"--resume: nothing to resume, the work dir "
        f"'{work_dir}' does not exist.")
    assert '--resume-if-any' in err
    assert not work_dir.exists()

    work_dir.mkdir()
    err = fails_with(run_training, config, work_dir, resume='auto')
    assert f"the work dir '{work_dir}' holds no checkpoint (no " in err
    assert list(work_dir.iterdir()) == []


def test_train_preflight_lists_every_problem(tiny_cub, tmp_path):
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    work_dir = tmp_path / 'work'
    missing = tmp_path / 'nope' / 'epoch_3.pth'
    err = fails_with(run_training, config, work_dir, {
        'train_cfg.max_epoch': 3,
        'train_dataloader.batch_sze': 4,
        'train_dataloader.dataset.data_root': str(tmp_path / 'no_data')
    }, resume=str(missing))
    assert err.splitlines() == [
        '4 problems, found before building anything:',
        '  train_cfg.max_epoch: unknown key; did you mean max_epochs?',
        '  train_dataloader.batch_sze: unknown key; did you mean '
        'batch_size?',
        f"  --resume: checkpoint file '{missing}' does not exist.",
        f"  train_dataloader.dataset.data_root='{tmp_path / 'no_data'}': no "
        'such folder. Point it at the CUB data (see the README, section '
        'Datasets, for the layout), e.g. --cfg-options '
        'train_dataloader.dataset.data_root=/path/to/data',
    ]
    assert not work_dir.exists()


def train_linear_probe(work_dir, data_root, checkpoint) -> str:
    """Train the ViT-S CUB linear probe; return its user error."""
    return fails_with(
        run_training, CONFIGS / 'benchmarks' / 'linear_vit-s_cub.py',
        work_dir, {
            'train_dataloader.dataset.data_root': str(data_root),
            'val_dataloader.dataset.data_root': str(data_root),
            'model.init_cfg.checkpoint': str(checkpoint)
        })


def test_linear_probe_without_its_checkpoint(tiny_cub, tmp_path):
    work_dir = tmp_path / 'work'
    err = train_linear_probe(work_dir, tiny_cub, tmp_path / 'pretrain.pth')
    assert err == (
        'model.init_cfg.checkpoint: checkpoint file '
        f"'{tmp_path / 'pretrain.pth'}' does not exist. Set it with "
        '--cfg-options model.init_cfg.checkpoint=PATH.')
    assert not work_dir.exists()


def test_test_reports_all_missing_data_roots_at_once(tmp_path):
    work_dir = tmp_path / 'work'
    err = fails_with(
        evaluate_checkpoint, CONFIGS / 'benchmarks' / 'retrieval_vit-s_cub.py',
        tmp_path / 'epoch_1.pth', work_dir, {
            'test_dataloader.dataset.train.data_root': str(tmp_path / 'a'),
            'test_dataloader.dataset.test.data_root': str(tmp_path / 'b')
        })
    lines = err.splitlines()
    assert lines[0] == '3 problems, found before building anything:'
    assert lines[1] == (f"  CHECKPOINT: checkpoint file "
                        f"'{tmp_path / 'epoch_1.pth'}' does not exist.")
    assert lines[2].startswith(
        f"  test_dataloader.dataset.train.data_root='{tmp_path / 'a'}': no "
        'such folder.')
    assert lines[3].startswith(
        f"  test_dataloader.dataset.test.data_root='{tmp_path / 'b'}': no "
        'such folder.')
    assert not work_dir.exists()


def start(tmp_path, tool: str, *argv, debug: str = '0') -> subprocess.Popen:
    """Start ``tools/<tool>.py`` as a process, its output piped."""
    return subprocess.Popen(
        [sys.executable, str(TOOLS / f'{tool}.py'), *map(str, argv)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=dict(os.environ, CMD_DEBUG=debug, OMP_NUM_THREADS='1'))


def test_missing_checkpoint_argument(tmp_path):
    """Each tool names its checkpoint argument; the processes run at once."""
    runs = {
        ('visualize_mil', 'CHECKPOINT'): start(
            tmp_path, 'visualize_mil', CONFIGS / 'cmd_vit-s_cub.py',
            'nope.pth', '--images', 'a.jpg', '--out', 'out'),
        ('extract_backbone', 'CHECKPOINT'): start(
            tmp_path, 'extract_backbone', 'nope.pth', 'out.pth'),
        ('convert_pretrained', 'SRC'): start(
            tmp_path, 'convert_pretrained', 'nope.pth', 'out.pth',
            '--format', 'dino'),
    }
    for (tool, name), run in runs.items():
        _, err = run.communicate(timeout=300)
        assert run.returncode == 2, err[-2000:]
        assert err == (f"{tool}.py: error: {name}: checkpoint file "
                       "'nope.pth' does not exist.\n")


def test_as_a_process_no_traceback_unless_debug(tiny_cub, tmp_path):
    """The real command line: status 2 and one line on stderr (no mmcv-lite
    warning either); with CMD_DEBUG=1 the traceback; argparse's own errors.
    The processes run at once."""
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    argv = [config, '--work-dir', tmp_path / 'work', '--resume']
    runs = {debug: start(tmp_path, 'train', *argv, debug=debug)
            for debug in ('0', '1')}
    both = start(tmp_path, 'train', 'c.py', '--resume', '--resume-if-any')
    (out, err), (_, debug_err) = (runs[d].communicate(timeout=300)
                                   for d in ('0', '1'))
    _, both_err = both.communicate(timeout=300)
    assert both.returncode == 2 and 'not allowed with argument' in both_err
    assert runs['0'].returncode == 2
    assert err.splitlines() == [
        f"train.py: error: --resume: nothing to resume, the work dir "
        f"'{tmp_path / 'work'}' does not exist. Pass the checkpoint "
        '(--resume PATH), check --work-dir, or use --resume-if-any to '
        'resume when there is a checkpoint and start from scratch '
        'otherwise.'
    ]
    assert runs['1'].returncode == 1
    assert 'Traceback' in debug_err and 'UserError: --resume' in debug_err
    assert not (tmp_path / 'work').exists()


def test_linear_probe_head_must_fit_the_classes(tiny_cub, tmp_path):
    pretrain = tmp_path / 'pretrain.pth'
    pretrain.write_bytes(b'x')  # exists; the preflight reads its head only
    work_dir = tmp_path / 'work'
    err = train_linear_probe(work_dir, tiny_cub, pretrain)
    # the config's 200 CUB classes, on a 3-class folder in the CUB layout
    assert err == (
        'model.head.num_classes=200, but '
        'train_dataloader.dataset has 3 classes (labels 0-2, in '
        f"'{tiny_cub}'). Set --cfg-options model.head.num_classes=3.")
    assert not work_dir.exists()


def test_custom_hooks_that_drop_the_teacher_schedule(tiny_cub, tmp_path):
    """Assigning custom_hooks replaces the base schedule's hooks."""
    monitor = "custom_hooks = [dict(type='NonFiniteLossHook')]\n"
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub,
                               extra=monitor)
    work_dir = tmp_path / 'work'
    err = fails_with(run_training, config, work_dir)
    assert 'custom_hooks: no TeacherMomentumHook' in err
    assert 'custom_hooks = _base_.custom_hooks + [' in err
    assert not work_dir.exists()
    # adding to the base list keeps the schedule and passes the preflight
    from cmd_plugin.apis.preflight import load_config, schedule_hook_problem
    added = write_tiny_config(
        tmp_path / 'added.py', 'vit', tiny_cub,
        extra=monitor.replace('custom_hooks = [',
                              'custom_hooks = _base_.custom_hooks + ['))
    assert schedule_hook_problem(load_config(str(added))) is None
