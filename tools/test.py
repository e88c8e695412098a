"""Evaluate a checkpoint with a benchmark config (retrieval, k-NN, linear).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]
        [--debug]

The config, the checkpoint and every data root of the test dataloader are
checked before anything is built; a user error prints one message and exits
with status 2 (``--debug`` or ``CMD_DEBUG=1`` shows its traceback).
"""
import argparse

from mmengine.fileio import dump

from cmd_plugin.apis.training import (add_run_arguments, evaluate_checkpoint,
                                      parse_run_arguments)
from cmd_plugin.utils.user_errors import exit_on_user_error


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', metavar='CONFIG', help='config file path')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the metrics to this json file')
    add_run_arguments(parser,
                      'test_dataloader.dataset.data_root=data/CUB_200_2011')
    return parse_run_arguments(parser, argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with exit_on_user_error('test.py', args.debug):
        metrics = evaluate_checkpoint(args.config, args.checkpoint,
                                      args.work_dir, args.cfg_options,
                                      args.launcher)
    if args.out:
        dump({k: float(v) for k, v in metrics.items()}, args.out)
    return metrics


if __name__ == '__main__':
    main()
