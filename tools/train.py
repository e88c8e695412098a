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
import datetime
import os
import os.path as osp
import sys

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from torch.nn.parallel import DistributedDataParallel

from cmd_plugin.apis.preflight import (latest_checkpoint, load_config,
                                       preflight)
from cmd_plugin.engine.runner import build_runner
from cmd_plugin.utils.interrupt import TrainingInterrupted
from cmd_plugin.utils.user_errors import (add_debug_argument,
                                          exit_on_user_error)
from cmd_plugin.utils.validation import ConfigError
from mmpretrain.registry import MODEL_WRAPPERS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        '--resume', nargs='?', type=str, const='auto',
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
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. '
        'train_dataloader.batch_size=32 model.head.matching=geometric')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
            raise ConfigError('--amp needs optim_wrapper.type=OptimWrapper, '
                              f'got {cfg.optim_wrapper.type!r}.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('dtype', 'bfloat16')
    if args.resume == 'auto' or args.resume_if_any:
        latest = latest_checkpoint(cfg.work_dir, if_any=args.resume_if_any)
        cfg.resume, cfg.load_from = latest is not None, latest
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if args.no_validate:
        for key in ('val_cfg', 'val_dataloader', 'val_evaluator'):
            cfg[key] = None
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Start the process group of a multi-process run on CPUs only.

    mmengine 0.10.7's launchers call ``torch.cuda.set_device`` and its
    runner gives DDP ``device_ids=[LOCAL_RANK]``; both fail without a GPU.
    This starts the group itself (the runner then skips its own start) and
    builds the DDP wrapper with ``device_ids=None``, as DDP needs for CPU
    modules.

    Args:
        cfg (Config): The full config; ``cfg.launcher`` must be
            ``'pytorch'`` (torchrun) and ``env_cfg.dist_cfg.backend`` a CPU
            backend (``'gloo'``).
    """
    if cfg.launcher != 'pytorch':
        raise ConfigError(
            'Multi-process training without a GPU needs --launcher pytorch '
            f'(torchrun), got {cfg.launcher!r}.')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'nccl')
    if backend == 'nccl':
        raise ConfigError(
            "env_cfg.dist_cfg.backend='nccl' needs GPUs and none is "
            "available; set --cfg-options env_cfg.dist_cfg.backend=gloo to "
            'train on CPUs.')
    if dist_cfg.pop('init_backend', 'torch') != 'torch':
        raise ConfigError('Training on CPUs supports only '
                         "env_cfg.dist_cfg.init_backend='torch'.")
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=backend, **dist_cfg)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                     DistributedDataParallel):
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error('train.py', args.debug):
        try:
            train(args)
        except TrainingInterrupted as stop:
            print(f'train.py: {stop}', file=sys.stderr, flush=True)
            raise


def train(args: argparse.Namespace) -> None:
    """Check the config and the paths it names, then train."""
    cfg = build_config(args)
    explicit = args.resume not in (None, 'auto')
    preflight(cfg, checkpoints={'--resume': args.resume} if explicit else {},
              dataloaders=('train_dataloader', 'val_dataloader'))
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
