"""Keep the prototype layer fixed during the first epoch(s)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS
from ...utils.validation import check_int


@HOOKS.register_module()
class FreezePrototypesHook(Hook):
    """Freeze the student's prototype layer for the first ``epochs`` epochs.

    DINO's remedy for early collapse: while frozen, the prototypes get no
    gradient (so the optimiser leaves them untouched, weight decay
    included). Re-derived from the epoch at every epoch start, so resume is
    exact. Under DDP the frozen parameter is unused for a while, so the
    wrapper needs ``find_unused_parameters=True`` (set in the runtime base).

    Args:
        epochs (int): Number of frozen epochs. Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self, epochs: int = 1) -> None:
        check_int('FreezePrototypesHook', 'epochs', epochs, 0)
        self.epochs = epochs

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.head.projector.freeze_prototypes = runner.epoch < self.epochs
