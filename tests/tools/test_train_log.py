"""A tiny training run (tools/train.py's run_training): what its log shows
(and does not)."""
import re
from pathlib import Path

import pytest
import torch

from cmd_plugin.apis.training import run_training
from tiny_configs import write_tiny_config


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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # far faster on a few shared cores
    try:
        run_training(str(config), str(work_dir), resume_if_any=True)
    finally:
        torch.set_num_threads(threads)
    return work_dir


@pytest.fixture(scope='module')
def log(tiny_run) -> str:
    return next(tiny_run.glob('*/*.log')).read_text()


def test_persistent_workers_without_workers_trains(tiny_run):
    assert (tiny_run / 'epoch_1.pth').is_file()


def test_resume_if_any_starts_from_scratch(log):
    assert 'resumed epoch' not in log and 'Auto resumed' not in log


def test_no_per_parameter_lines(log):
    assert 'requires_grad=False' not in log
    assert 'paramwise_options' not in log
    assert 'GPU number' not in log or torch.cuda.is_available()


def test_summaries(log, tiny_run):
    lines = log.splitlines()
    optimizer = [line for line in lines if ' - optimizer: ' in line]
    assert len(optimizer) == 1
    assert re.search(
        r' - optimizer: AdamW, \d+ parameter tensors \([\d.]+ k parameters\) '
        r'in \d+ groups; frozen: teacher [\d.]+ k parameters$', optimizer[0])
    end = lines.index(next(line for line in lines
                           if 'Training finished: ' in line))
    assert lines[end].split(' - ')[-1].startswith(
        'Training finished: 1 epoch (3 iterations) in ')
    assert lines[end + 1].startswith('    final losses: loss ')
    assert all(f' {term} ' in lines[end + 1]
               for term in ('loss_img', 'loss_reg', 'loss_inter'))
    assert lines[end + 2] == (
        f'    last checkpoint: {tiny_run.resolve() / "epoch_1.pth"}')
