"""A tiny tools/train.py run: what its log shows (and does not)."""
from pathlib import Path

import pytest

from single_thread import one_thread  # noqa: F401  (a fixture)
from tiny_configs import write_tiny_config
from tool_scripts import load_tool


@pytest.fixture(scope='module')
def tiny_run(tiny_cub, tmp_path_factory) -> Path:
    """One epoch of a tiny ViT CMD run with ``num_workers=0`` and
    ``persistent_workers=True`` (which torch alone refuses), started with
    ``--resume-if-any`` in an empty work dir."""
    tmp_path = tmp_path_factory.mktemp('tiny_run')
    config = write_tiny_config(
        tmp_path / 'tiny_log.py', 'vit', tiny_cub,
        extra="train_dataloader['persistent_workers'] = True")
    work_dir = tmp_path / 'work'
    load_tool('train').main(
        [str(config), '--work-dir', str(work_dir), '--resume-if-any'])
    return work_dir


def test_persistent_workers_without_workers_trains(tiny_run):
    assert (tiny_run / 'epoch_1.pth').is_file()


def test_resume_if_any_starts_from_scratch(tiny_run):
    log = next(tiny_run.glob('*/*.log')).read_text()
    assert 'resumed epoch' not in log and 'Auto resumed' not in log
