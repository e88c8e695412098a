"""The flags tools/train.py and tools/test.py share (apis.training)."""
import argparse
import os

import pytest

from cmd_plugin.apis.training import add_run_arguments, parse_run_arguments


def test_run_arguments_parse_options_and_set_the_local_rank(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, 'model.head.matching=geometric')
    args = parse_run_arguments(parser, [
        '--cfg-options', 'train_dataloader.batch_size=4', 'a.b=x',
        '--launcher', 'pytorch', '--local-rank', '3', '--debug'
    ])
    assert args.cfg_options == {'train_dataloader.batch_size': 4, 'a.b': 'x'}
    assert (args.launcher, args.local_rank, args.debug) == ('pytorch', 3,
                                                            True)
    assert os.environ['LOCAL_RANK'] == '3'
    # torchrun's LOCAL_RANK wins over the flag's default
    monkeypatch.setenv('LOCAL_RANK', '1')
    assert parse_run_arguments(parser, []).launcher == 'none'
    assert os.environ['LOCAL_RANK'] == '1'
    with pytest.raises(SystemExit):
        parse_run_arguments(parser, ['--launcher', 'ssh'])
