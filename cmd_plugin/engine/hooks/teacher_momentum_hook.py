"""Cosine schedule of the teacher's EMA momentum."""
import math

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from ...utils.validation import check_number
from .trained_model import trained_model


@HOOKS.register_module()
class TeacherMomentumHook(Hook):
    """Teacher momentum from ``start`` to ``end`` on a cosine over training.

    ``m = end - (end - start) * (1 + cos(pi * iter / max_iters)) / 2``, set
    on ``model.momentum`` before every iteration (a function of the
    iteration alone, so resume is exact).

    Args:
        start (float): Momentum at iteration 0; DINO uses 0.996, small
            fine-grained sets with small batches 0.9995. Defaults to 0.996.
        end (float): Momentum at the last iteration. Defaults to 1.0.
    """

    priority = 'NORMAL'

    def __init__(self, start: float = 0.996, end: float = 1.0) -> None:
        check_number('TeacherMomentumHook', 'start', start, 0, 1)
        check_number('TeacherMomentumHook', 'end', end, start, 1)
        self.start = start
        self.end = end

    def momentum(self, it: int, max_iters: int) -> float:
        """Momentum at iteration ``it`` of ``max_iters``."""
        progress = it / max(1, max_iters)
        return self.end - (self.end - self.start) * (
            1 + math.cos(math.pi * progress)) / 2

    def before_train_iter(self, runner, batch_idx: int, data_batch=None):
        model = trained_model(runner)
        model.momentum = self.momentum(runner.iter, runner.max_iters)
