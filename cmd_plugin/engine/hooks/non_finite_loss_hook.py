"""Stop training at the first NaN or infinite loss, before any checkpoint."""
import math
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS


def _as_float(value) -> Optional[float]:
    """A logged value as a float, or None when it is not a number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise when a loss term is NaN or infinite.

    After every training iteration it checks each number the model's
    ``train_step`` returned (``loss`` and every term, e.g. ``loss_img``,
    ``loss_reg``, ``loss_inter``) and raises a ``RuntimeError`` naming the
    non-finite terms, the iteration and the last finite value of every term.
    Its priority (``ABOVE_NORMAL``) runs it before ``LoggerHook`` and
    ``CheckpointHook``, so no checkpoint of the broken state is written and
    the last checkpoint on disk is the last good one.

    The optimizer step of that iteration has already run, so the model in
    memory may hold non-finite weights; resume from the last checkpoint
    (e.g. with a lower learning rate or gradient clipping). :class:`CMD`
    logs each term averaged over the processes, so in a distributed run every
    process sees a non-finite term of any process and all stop together.
    """

    priority = 'ABOVE_NORMAL'

    def before_train(self, runner) -> None:
        """Forget the values of any earlier run."""
        self._last_finite: Dict[str, float] = {}
        self._last_finite_iter: Optional[int] = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Check every number in ``outputs``."""
        values = {}
        for name, value in (outputs or {}).items():
            number = _as_float(value)
            if number is not None:
                values[name] = number
        bad = {n: v for n, v in values.items() if not math.isfinite(v)}
        if not bad:
            self._last_finite.update(values)
            self._last_finite_iter = runner.iter + 1
            return
        if self._last_finite:
            last = ', '.join(f'{n}={v:.6g}'
                             for n, v in self._last_finite.items())
            history = (f'Last finite values (iteration '
                       f'{self._last_finite_iter}): {last}.')
        else:
            history = 'No iteration of this run had finite losses.'
        raise RuntimeError(
            f'Non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}): ' +
            ', '.join(f'{n}={v}' for n, v in bad.items()) + f'. {history} '
            'Training stopped before a checkpoint of this state was written; '
            'resume from the last checkpoint, e.g. with a lower learning '
            'rate or gradient clipping.')
