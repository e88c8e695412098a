"""Reseed the random generators at every epoch, so that resume is exact."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded with ``seed``.

    Args:
        seed (int): The run's seed (``runner.seed``, which already differs
            per rank when ``randomness.diff_rank_seed`` is set).
        epoch (int): The 0-based epoch.

    Returns:
        int: A seed in ``[0, 2**32)``; different epochs give independent
        streams.
    """
    if seed < 0 or epoch < 0:
        raise ValueError('epoch_seed needs seed >= 0 and epoch >= 0, got '
                         f'seed={seed!r}, epoch={epoch!r}.')
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, ``numpy`` and ``torch`` at the start of every epoch.

    mmengine seeds these generators once, when the runner is built, and its
    resume restores only the seed, not the generators' states. After
    ``--resume`` the main process would then draw different augmentations
    (with ``num_workers=0``) and different drop-path masks than the run that
    was not interrupted. This hook reseeds all three from
    :func:`epoch_seed` ``(runner.seed, runner.epoch)`` before each training
    epoch, so an epoch's randomness depends on the seed and the epoch alone
    and a resumed run repeats the uninterrupted one exactly. Nothing is added
    to the checkpoint.

    Dataloader workers are seeded by mmengine's ``worker_init_fn`` from the
    seed, the rank and the worker id. With ``persistent_workers=False``
    they restart every epoch from the same seeds, so resume stays exact;
    persistent workers continue their streams across epochs and restart them
    on resume, which is statistically equivalent but not identical. Meant for
    ``EpochBasedTrainLoop``: an iteration-based loop has one "epoch".
    A resume from inside an epoch is exact with
    :class:`~cmd_plugin.engine.runner.ResumableEpochBasedTrainLoop`, which
    restores the generators' states that the checkpoint recorded.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        """Seed the generators from the run's seed and the epoch."""
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
