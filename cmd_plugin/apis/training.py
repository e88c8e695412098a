"""Train from a config, or test a checkpoint: what tools/train.py and
tools/test.py run after parsing their command lines.

Each call checks the config and the paths it names first (the preflight):
a problem raises a :class:`~cmd_plugin.utils.user_errors.UserError` that
lists every one, before anything is built or any work dir is made. The
arguments mirror the tools' flags, whose names the messages use.
"""
import argparse
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import Config, DictAction

from ..engine.runner import build_runner, setup_cpu_distributed
from ..utils.user_errors import add_debug_argument
from ..utils.validation import ConfigError
from .preflight import latest_checkpoint, load_config, preflight

#: ``resume`` value: the newest complete checkpoint of the work dir.
RESUME_LATEST = 'auto'
#: How the processes of a run are started (mmengine's launchers).
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_run_arguments(parser: argparse.ArgumentParser,
                      cfg_options_example: str) -> None:
    """Add the flags tools/train.py and tools/test.py share.

    ``--cfg-options``, ``--launcher``, ``--local-rank`` (torch.distributed's
    older launcher passes it) and ``--debug``. Parse with
    :func:`parse_run_arguments`.

    Args:
        parser (ArgumentParser): The tool's parser.
        cfg_options_example (str): Overrides shown in ``--cfg-options``'s
            help.
    """
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. '
                        f'{cfg_options_example}')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_argument(parser)


def parse_run_arguments(parser: argparse.ArgumentParser,
                        argv: Optional[Sequence[str]] = None
                        ) -> argparse.Namespace:
    """Parse ``argv`` and set ``LOCAL_RANK`` from ``--local-rank`` unless
    the environment has it (torchrun sets it)."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _work_dir(cfg: Config, config: str, work_dir: Optional[str]) -> str:
    """``work_dir``, else the config's, else ``work_dirs/<config name>``."""
    return work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(config))[0])


def training_config(config: str,
                    work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    resume: Optional[str] = None,
                    resume_if_any: bool = False,
                    amp: bool = False,
                    auto_scale_lr: bool = False,
                    validate: bool = True,
                    launcher: str = 'none') -> Config:
    """The config of a training run, with the run's options applied.

    Args:
        config (str): The config file.
        work_dir (str, optional): Where logs and checkpoints go. Defaults to
            the config's ``work_dir``, else ``work_dirs/<config name>``.
        cfg_options (dict, optional): Overrides (``--cfg-options``).
        resume (str, optional): A checkpoint to resume from, or
            :data:`RESUME_LATEST` for the newest complete one in the work
            dir (an error if there is none). Defaults to None.
        resume_if_any (bool): Resume from the newest complete checkpoint
            if there is one, else start from scratch. Defaults to False.
        amp (bool): bf16 autocast (``AmpOptimWrapper``). Defaults to False.
        auto_scale_lr (bool): Scale the lr by the total batch size.
            Defaults to False.
        validate (bool): Keep the config's validation. Defaults to True.
        launcher (str): One of :data:`LAUNCHERS`. Defaults to ``'none'``.

    Returns:
        Config: The config to build the runner from.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config, work_dir)
    if amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
            raise ConfigError('--amp needs optim_wrapper.type=OptimWrapper, '
                              f'got {cfg.optim_wrapper.type!r}.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('dtype', 'bfloat16')
    if resume == RESUME_LATEST or resume_if_any:
        latest = latest_checkpoint(cfg.work_dir, if_any=resume_if_any)
        cfg.resume, cfg.load_from = latest is not None, latest
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if not validate:
        for key in ('val_cfg', 'val_dataloader', 'val_evaluator'):
            cfg[key] = None
    return cfg


def run_training(config: str,
                 work_dir: Optional[str] = None,
                 cfg_options: Optional[dict] = None,
                 resume: Optional[str] = None,
                 **options) -> None:
    """Check the config and the paths it names, then train.

    Args:
        config, work_dir, cfg_options, resume: See
            :func:`training_config`.
        **options: The other arguments of :func:`training_config`.
    """
    cfg = training_config(config, work_dir, cfg_options, resume, **options)
    explicit = resume not in (None, RESUME_LATEST)
    preflight(cfg, checkpoints={'--resume': resume} if explicit else {},
              dataloaders=('train_dataloader', 'val_dataloader'))
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg)
    runner = build_runner(cfg)
    runner.train()


def evaluate_checkpoint(config: str,
                        checkpoint: str,
                        work_dir: Optional[str] = None,
                        cfg_options: Optional[dict] = None,
                        launcher: str = 'none') -> Dict[str, float]:
    """Check the config and the paths it names, then test a checkpoint.

    Only ``checkpoint`` is loaded: the model's ``init_cfg`` checkpoints are
    neither checked nor read.

    Args:
        config (str): A benchmark config (retrieval, k-NN, linear probe).
        checkpoint (str): The checkpoint to evaluate.
        work_dir (str, optional): Where logs and metrics go; as in
            :func:`training_config`.
        cfg_options (dict, optional): Overrides (``--cfg-options``).
        launcher (str): As in :func:`training_config`.

    Returns:
        dict[str, float]: The metrics.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config, work_dir)
    cfg.load_from = checkpoint
    preflight(cfg, checkpoints={'CHECKPOINT': checkpoint},
              dataloaders=('test_dataloader', ), init_weights=False)
    runner = build_runner(cfg)
    return runner.test()
