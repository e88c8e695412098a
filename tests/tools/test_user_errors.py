"""The tools on user errors: one message naming the flag or key, exit
status 2, no traceback, no work dir left behind."""
import os
import subprocess
import sys

import pytest

from tiny_configs import CONFIGS, write_tiny_config
from tool_scripts import TOOLS, load_tool


def fails_with(capsys, tool: str, argv: list) -> str:
    """Run ``tools/<tool>.py``, expect a user error; return its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        load_tool(tool).main([str(arg) for arg in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f'{tool}.py: error: ')
    assert 'Traceback' not in err
    return err


def test_resume_with_nothing_to_resume(tiny_cub, tmp_path, capsys):
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    work_dir = tmp_path / 'work'
    err = fails_with(capsys, 'train',
                     [config, '--work-dir', work_dir, '--resume'])
    assert err.startswith(
        f"train.py: error: --resume: nothing to resume, the work dir "
        f"'{work_dir}' does not exist.")
    assert '--resume-if-any' in err
    assert not work_dir.exists()

    work_dir.mkdir()
    err = fails_with(capsys, 'train',
                     [config, '--work-dir', work_dir, '--resume'])
    assert f"the work dir '{work_dir}' holds no checkpoint (no " in err
    assert list(work_dir.iterdir()) == []


def test_resume_and_resume_if_any_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool('train').main(['c.py', '--resume', '--resume-if-any'])
    assert exit_info.value.code == 2
    assert 'not allowed with argument' in capsys.readouterr().err


def test_train_preflight_lists_every_problem(tiny_cub, tmp_path, capsys):
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    work_dir = tmp_path / 'work'
    missing = tmp_path / 'nope' / 'epoch_3.pth'
    err = fails_with(capsys, 'train', [
        config, '--work-dir', work_dir, '--resume', missing,
        '--cfg-options', 'train_cfg.max_epoch=3',
        'train_dataloader.batch_sze=4',
        f'train_dataloader.dataset.data_root={tmp_path / "no_data"}'
    ])
    assert err.splitlines() == [
        'train.py: error: 4 problems, found before building anything:',
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


def linear_probe_args(work_dir, data_root, checkpoint) -> list:
    """``tools/train.py`` arguments of the ViT-S CUB linear probe."""
    return [
        CONFIGS / 'benchmarks' / 'linear_vit-s_cub.py', '--work-dir',
        work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'model.init_cfg.checkpoint={checkpoint}'
    ]


def test_linear_probe_without_its_checkpoint(tiny_cub, tmp_path, capsys):
    work_dir = tmp_path / 'work'
    err = fails_with(capsys, 'train',
                     linear_probe_args(work_dir, tiny_cub,
                                       tmp_path / 'pretrain.pth'))
    assert err == (
        'train.py: error: model.init_cfg.checkpoint: checkpoint file '
        f"'{tmp_path / 'pretrain.pth'}' does not exist. Set it with "
        '--cfg-options model.init_cfg.checkpoint=PATH.\n')
    assert not work_dir.exists()


def test_test_reports_all_missing_data_roots_at_once(tmp_path, capsys):
    work_dir = tmp_path / 'work'
    err = fails_with(capsys, 'test', [
        CONFIGS / 'benchmarks' / 'retrieval_vit-s_cub.py',
        tmp_path / 'epoch_1.pth', '--work-dir', work_dir, '--cfg-options',
        f'test_dataloader.dataset.train.data_root={tmp_path / "a"}',
        f'test_dataloader.dataset.test.data_root={tmp_path / "b"}'
    ])
    lines = err.splitlines()
    assert lines[0] == ('test.py: error: 3 problems, found before building '
                        'anything:')
    assert lines[1] == (f"  CHECKPOINT: checkpoint file "
                        f"'{tmp_path / 'epoch_1.pth'}' does not exist.")
    assert lines[2].startswith(
        f"  test_dataloader.dataset.train.data_root='{tmp_path / 'a'}': no "
        'such folder.')
    assert lines[3].startswith(
        f"  test_dataloader.dataset.test.data_root='{tmp_path / 'b'}': no "
        'such folder.')
    assert not work_dir.exists()


@pytest.mark.parametrize('tool, argv, name', [
    ('visualize_mil', [CONFIGS / 'cmd_vit-s_cub.py', 'nope.pth', '--images',
                       'a.jpg', '--out', 'out'], 'CHECKPOINT'),
    ('extract_backbone', ['nope.pth', 'out.pth'], 'CHECKPOINT'),
    ('convert_pretrained', ['nope.pth', 'out.pth', '--format', 'dino'],
     'SRC'),
])
def test_missing_checkpoint_argument(tool, argv, name, capsys):
    err = fails_with(capsys, tool, argv)
    assert err == (f"{tool}.py: error: {name}: checkpoint file "
                   "'nope.pth' does not exist.\n")


def test_as_a_process_no_traceback_unless_debug(tiny_cub, tmp_path):
    """The real command line: status 2 and one line on stderr (no mmcv-lite
    warning either); with CMD_DEBUG=1 the traceback. Both processes run at
    once."""
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    argv = [sys.executable, str(TOOLS / 'train.py'), str(config),
            '--work-dir', str(tmp_path / 'work'), '--resume']
    runs = {
        debug: subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, CMD_DEBUG=debug, OMP_NUM_THREADS='1'))
        for debug in ('0', '1')
    }
    (out, err), (_, debug_err) = (runs[d].communicate(timeout=120)
                                   for d in ('0', '1'))
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


def test_linear_probe_head_must_fit_the_classes(tiny_cub, tmp_path, capsys):
    pretrain = tmp_path / 'pretrain.pth'
    pretrain.write_bytes(b'x')  # exists; the preflight reads its head only
    work_dir = tmp_path / 'work'
    err = fails_with(capsys, 'train',
                     linear_probe_args(work_dir, tiny_cub, pretrain))
    # the config's 200 CUB classes, on a 3-class folder in the CUB layout
    assert err == (
        'train.py: error: model.head.num_classes=200, but '
        'train_dataloader.dataset has 3 classes (labels 0-2, in '
        f"'{tiny_cub}'). Set --cfg-options model.head.num_classes=3.\n")
    assert not work_dir.exists()


def test_custom_hooks_that_drop_the_teacher_schedule(tiny_cub, tmp_path,
                                                     capsys):
    """Assigning custom_hooks replaces the base schedule's hooks."""
    monitor = "custom_hooks = [dict(type='NonFiniteLossHook')]\n"
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub,
                               extra=monitor)
    work_dir = tmp_path / 'work'
    err = fails_with(capsys, 'train', [config, '--work-dir', work_dir])
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
