"""Warn when the teacher's targets collapse (from the ``diag/`` signals)."""
import math
from typing import Dict, Optional

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from ...utils.validation import check_int, check_number
from .trained_model import trained_model

#: The teacher-entropy signals of :meth:`CMDHead._diagnostics`.
SIGNALS = ('diag/teacher_entropy_img', 'diag/teacher_entropy_reg',
           'diag/teacher_entropy_bag')


@HOOKS.register_module()
class TeacherCollapseHook(Hook):
    """Log a warning naming the signal when the teacher collapses.

    Self-distillation fails in two ways that the loss alone hides: the
    teacher's targets become one-hot on one prototype (entropy near 0) or
    uniform over all ``K`` (entropy near ``ln K``; the loss then sits at
    ``ln K`` as well). After every iteration this hook reads the teacher
    entropies that ``CMD(diagnostics=True)`` returns and warns once when one
    of them has stayed below ``low * ln K`` or above ``high * ln K`` for
    ``patience`` consecutive iterations; it warns again only after the
    signal has come back into range.

    Args:
        patience (int): Consecutive iterations out of range before the
            warning. Defaults to 100.
        low (float): Lower bound as a fraction of ``ln K``. Defaults to 0.05.
        high (float): Upper bound as a fraction of ``ln K``. Defaults to
            0.95.
    """

    priority = 'LOW'

    def __init__(self, patience: int = 100, low: float = 0.05,
                 high: float = 0.95) -> None:
        check_int('TeacherCollapseHook', 'patience', patience, 1)
        check_number('TeacherCollapseHook', 'low', low, 0, 1)
        check_number('TeacherCollapseHook', 'high', high, low, 1)
        self.patience = patience
        self.low = low
        self.high = high
        self.streaks: Dict[str, int] = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        model = trained_model(runner)
        log_k = math.log(model.num_prototypes)
        for name in SIGNALS:
            if name not in outputs:
                continue
            value = float(outputs[name])
            share = value / log_k
            if self.low <= share <= self.high:
                self.streaks[name] = 0
                continue
            self.streaks[name] = self.streaks.get(name, 0) + 1
            if self.streaks[name] != self.patience:
                continue
            kind = ('one-hot: every image gets the same few prototypes'
                    if share < self.low else
                    'uniform: the targets carry no information')
            bound = self.low if share < self.low else self.high
            side = 'below' if share < self.low else 'above'
            runner.logger.warning(
                f'Teacher collapse: {name} = {value:.3f} nats has stayed '
                f'{side} {bound:.0%} of ln K = {log_k:.2f} for {self.patience}'
                f' iterations (iteration {runner.iter + 1}); the teacher '
                f'targets are {kind}. Check the teacher temperature, the '
                'centre momentum and the learning rate.')
