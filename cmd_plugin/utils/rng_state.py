"""The states of the global random generators, to save and restore.

A checkpoint written inside an epoch records them, so that a run resumed
from it draws the same augmentations and drop-path masks for the rest of
the epoch as the run that was not interrupted (see
:class:`~cmd_plugin.engine.runner.ResumableEpochBasedTrainLoop`). Every
value is a tuple, string, number, numeric numpy array or tensor: a
checkpoint holding them still loads with ``weights_only=True``.
"""
import random
from typing import Any, Dict

import numpy as np
import torch


def get_rng_states() -> Dict[str, Any]:
    """The states of python's, numpy's and torch's global generators.

    Returns:
        dict: ``python``, ``numpy``, ``torch`` and, when CUDA is in use,
        ``cuda`` (one state per device).
    """
    states = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Restore what :func:`get_rng_states` returned (also after a
    round trip through a checkpoint, tensors on any device)."""
    version, internal, gauss = states['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(states['numpy']))
    torch.set_rng_state(states['torch'].cpu())
    cuda = states.get('cuda')
    if cuda is not None and torch.cuda.is_available() and \
            len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([state.cpu() for state in cuda])
