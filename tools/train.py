"""Pre-train (or train a linear probe) from an mmpretrain-style config.

    python tools/train.py configs/cmd_vit-s_cub.py [--work-dir DIR]
        [--resume [CKPT] | --resume-if-any] [--amp] [--auto-scale-lr]
        [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]
        [--debug]

Several processes (GPUs, or CPUs with env_cfg.dist_cfg.backend=gloo):
    bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args]

The plugin's options are checked before anything is built; an invalid one
stops the run with its key path (e.g. ``model.head.matching: ...``). A user
error prints one message and exits with status 2 (``--debug`` or
``CMD_DEBUG=1`` shows its traceback); so does a full disk while saving a
checkpoint (the message names the work dir and the space needed).

Crash safety (docs/reliability.md): checkpoints are written atomically;
``--resume`` without a path continues from the newest complete checkpoint
and skips a truncated or corrupt one with a warning; SIGTERM or SIGINT
(Ctrl-C) finishes the current iteration, saves a checkpoint and exits with
status 128 + the signal (143, 130); a second one stops at once.
"""
import argparse
import sys

from cmd_plugin.apis.training import (RESUME_LATEST, add_run_arguments,
                                      parse_run_arguments, run_training)
from cmd_plugin.utils.interrupt import TrainingInterrupted
from cmd_plugin.utils.user_errors import exit_on_user_error


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        '--resume', nargs='?', type=str, const=RESUME_LATEST,
        help='resume from CKPT, or without a value from the newest complete '
        'checkpoint in the work dir (damaged ones are skipped with a '
        'warning; an error if there is none)')
    resume.add_argument(
        '--resume-if-any', action='store_true',
        help='resume from the latest checkpoint in the work dir if there is '
        'one, else start from scratch')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (bf16 autocast) on GPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    add_run_arguments(
        parser, 'train_dataloader.batch_size=32 model.head.matching=geometric')
    return parse_run_arguments(parser, argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error('train.py', args.debug):
        try:
            run_training(args.config, args.work_dir, args.cfg_options,
                         args.resume, resume_if_any=args.resume_if_any,
                         amp=args.amp,
                         auto_scale_lr=args.auto_scale_lr,
                         validate=not args.no_validate,
                         launcher=args.launcher)
        except TrainingInterrupted as stop:
            print(f'train.py: {stop}', file=sys.stderr, flush=True)
            raise


if __name__ == '__main__':
    main()
