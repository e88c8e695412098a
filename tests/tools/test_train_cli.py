"""tools/train.py on user errors: one message, exit status 2, no folder."""
import pytest

from tiny_configs import write_tiny_config
from tool_scripts import load_tool


def fails_with(capsys, argv: list) -> str:
    """Run tools/train.py, expect a user error; return its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        load_tool('train').main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    return err


def test_resume_with_nothing_to_resume(tiny_cub, tmp_path, capsys):
    config = write_tiny_config(tmp_path / 'tiny.py', 'vit', tiny_cub)
    work_dir = tmp_path / 'work'
    err = fails_with(capsys,
                     [str(config), '--work-dir', str(work_dir), '--resume'])
    assert err.startswith(
        f"train.py: error: --resume: nothing to resume, the work dir "
        f"'{work_dir}' does not exist.")
    assert '--resume-if-any' in err
    assert not work_dir.exists()

    work_dir.mkdir()
    err = fails_with(capsys,
                     [str(config), '--work-dir', str(work_dir), '--resume'])
    assert f"the work dir '{work_dir}' holds no last_checkpoint file" in err
    assert list(work_dir.iterdir()) == []


def test_resume_and_resume_if_any_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool('train').main(['c.py', '--resume', '--resume-if-any'])
    assert exit_info.value.code == 2
    assert 'not allowed with argument' in capsys.readouterr().err
