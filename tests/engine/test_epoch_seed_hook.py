"""EpochSeedHook: an epoch's randomness depends on the seed and epoch alone."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmd_plugin.engine.hooks import EpochSeedHook
from cmd_plugin.engine.hooks.epoch_seed_hook import epoch_seed


def draws(seed: int, epoch: int) -> tuple:
    """What the three generators give after the hook ran for ``epoch``."""
    EpochSeedHook().before_train_epoch(SimpleNamespace(seed=seed, epoch=epoch))
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_same_seed_and_epoch_give_the_same_draws():
    first = draws(0, 3)
    random.random(), np.random.rand(), torch.rand(5)  # whatever ran between
    assert draws(0, 3) == first


@pytest.mark.parametrize('seed, epoch', [(0, 4), (1, 3)])
def test_other_epochs_and_seeds_differ(seed, epoch):
    base = draws(0, 3)
    assert all(a != b for a, b in zip(draws(seed, epoch), base))


def test_seed_range():
    assert 0 <= epoch_seed(2**40, 10**6) < 2**32
    with pytest.raises(ValueError, match='seed >= 0'):
        epoch_seed(-1, 0)
