"""Checks that run before a tool builds anything (runner, model, data).

The command-line tools (``tools/train.py``, ``tools/test.py``, ...) call
these on the merged config, so that a mistake the user can fix stops the
run at once, with the config key or the command-line flag named, and
without a half-made work dir left behind.
"""
import logging
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmengine.logging import print_log

from .user_errors import UserError

#: The top-level dataloader keys of an mmengine config.
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def iter_dataloaders(cfg: dict) -> Iterator[Tuple[str, dict]]:
    """``(key path, config)`` of every dataloader config in ``cfg``.

    Finds the top-level ``train_dataloader`` / ``val_dataloader`` /
    ``test_dataloader`` and the dataloaders that hooks build themselves
    (a ``*dataloader`` argument of a ``custom_hooks`` entry, e.g. the
    ``KNNMonitorHook``).

    Args:
        cfg (dict): The full config (or a part with the same keys).

    Yields:
        tuple[str, dict]: E.g. ``('train_dataloader', {...})`` or
        ``('custom_hooks[2].val_dataloader', {...})``.
    """
    for key in DATALOADER_KEYS:
        if isinstance(cfg.get(key), dict):
            yield key, cfg[key]
    for index, hook in enumerate(cfg.get('custom_hooks') or []):
        if not isinstance(hook, dict):
            continue
        for name, value in hook.items():
            if name.endswith('dataloader') and isinstance(value, dict):
                yield f'custom_hooks[{index}].{name}', value


def fix_persistent_workers(cfg: dict) -> None:
    """Switch ``persistent_workers`` off where ``num_workers`` is 0.

    torch's ``DataLoader`` refuses ``persistent_workers=True`` without
    worker processes (``ValueError: persistent_workers option needs
    num_workers > 0``). ``num_workers=0`` is a legitimate choice (e.g. for
    an exactly reproducible resume), so the flag, which then has nothing to
    keep alive, is turned off with an info line instead.

    Args:
        cfg (dict): The full config; changed in place.
    """
    for key, loader in iter_dataloaders(cfg):
        if loader.get('persistent_workers') and \
                not loader.get('num_workers', 0):
            loader['persistent_workers'] = False
            print_log(
                f'{key}.persistent_workers: switched off, as '
                f'{key}.num_workers=0 starts no worker process to keep.',
                logger='current', level=logging.INFO)


def latest_checkpoint(work_dir: str, if_any: bool = False) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    mmengine writes the path of every checkpoint it saves to
    ``<work_dir>/last_checkpoint``; that file names the latest one.

    Args:
        work_dir (str): The run's work dir.
        if_any (bool): ``--resume-if-any``: return None when there is
            nothing to resume (the run starts from scratch) instead of
            raising. Defaults to False (``--resume``).

    Returns:
        str | None: The path of the latest checkpoint; None if there is none
        and ``if_any``.

    Raises:
        UserError: There is nothing to resume (and not ``if_any``), or
            ``last_checkpoint`` names a file that does not exist.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        if if_any:
            print_log(
                f'--resume-if-any: no checkpoint in the work dir '
                f'{work_dir!r} yet; training starts from scratch.',
                logger='current', level=logging.INFO)
            return None
        what = ('does not exist' if not osp.isdir(work_dir) else
                'holds no last_checkpoint file (written with each '
                'checkpoint)')
        raise UserError(
            f'--resume: nothing to resume, the work dir {work_dir!r} '
            f'{what}. Pass the checkpoint (--resume PATH), check --work-dir, '
            'or use --resume-if-any to resume when there is a checkpoint '
            'and start from scratch otherwise.')
    with open(record) as f:
        latest = f.read().strip()
    if not osp.isfile(latest):
        raise UserError(
            f'--resume: {record!r} names the checkpoint {latest!r}, which '
            'does not exist. Pass another checkpoint with --resume PATH.')
    return latest
