"""Evaluate a checkpoint with a benchmark config (retrieval, k-NN, linear).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]
        [--debug]

The config, the checkpoint and every data root of the test dataloader are
checked before anything is built; a user error prints one message and exits
with status 2 (``--debug`` or ``CMD_DEBUG=1`` shows its traceback).
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

from cmd_plugin.apis.preflight import load_config, preflight
from cmd_plugin.engine.runner import build_runner
from cmd_plugin.utils.user_errors import (add_debug_argument,
                                          exit_on_user_error)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', metavar='CONFIG', help='config file path')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the metrics to this json file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. '
        'test_dataloader.dataset.data_root=data/CUB_200_2011')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    with exit_on_user_error('test.py', args.debug):
        return test(args)


def test(args: argparse.Namespace) -> dict:
    """Check the config and the paths it names, then test.

    Returns:
        dict: The metrics.
    """
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # A test loads CHECKPOINT only: model init_cfg checkpoints are not read.
    preflight(cfg, checkpoints={'CHECKPOINT': args.checkpoint},
              dataloaders=('test_dataloader', ), init_weights=False)
    runner = build_runner(cfg)
    metrics = runner.test()
    if args.out:
        from mmengine.fileio import dump
        dump({k: float(v) for k, v in metrics.items()}, args.out)
    return metrics


if __name__ == '__main__':
    main()
