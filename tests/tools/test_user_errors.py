"""The tools on user errors: one message naming the flag or key, exit
status 2, no traceback, no work dir left behind."""
from pathlib import Path

import pytest

from tiny_configs import CONFIGS, write_tiny_config
from tool_scripts import load_tool


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
    assert f"the work dir '{work_dir}' holds no last_checkpoint file" in err
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
        'such folder. Point it at the CUB data (see the README for the '
        'layout), e.g. --cfg-options '
        'train_dataloader.dataset.data_root=/path/to/data',
    ]
    assert not work_dir.exists()


def test_linear_probe_without_its_checkpoint(tiny_cub, tmp_path, capsys):
    work_dir = tmp_path / 'work'
    err = fails_with(capsys, 'train', [
        CONFIGS / 'benchmarks' / 'linear_vit-s_cub.py', '--work-dir',
        work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cub}',
        f'val_dataloader.dataset.data_root={tiny_cub}',
        f'model.init_cfg.checkpoint={tmp_path / "pretrain.pth"}'
    ])
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


@pytest.mark.parametrize('tool, argv', [
    ('visualize_mil', [CONFIGS / 'cmd_vit-s_cub.py', 'nope.pth', '--images',
                       'a.jpg', '--out', 'out']),
    ('extract_backbone', ['nope.pth', 'out.pth']),
])
def test_missing_checkpoint_argument(tool, argv, capsys):
    err = fails_with(capsys, tool, argv)
    assert err == (f"{tool}.py: error: CHECKPOINT: checkpoint file "
                   "'nope.pth' does not exist.\n")
