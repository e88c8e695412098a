"""Keep the prototype layer fixed during the first epoch(s)."""
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from ...utils.validation import check_int
from .trained_model import trained_model


@HOOKS.register_module()
class FreezePrototypesHook(Hook):
    """Freeze the student's prototype layer for the first ``epochs`` epochs.

    DINO's remedy for early collapse: while frozen, the prototypes are not
    changed by the optimiser (no update, no weight decay, no optimiser
    state), as DINO's ``cancel_gradients_last_layer``. Re-derived from the
    epoch at every epoch start, so resume is exact.

    The prototypes stay in the graph with a zero gradient while frozen
    (:class:`~cmd_plugin.models.heads.cmd_projector.CMDProjector`), so under
    DDP no parameter is ever unused and the wrapper needs no
    ``find_unused_parameters=True`` (whose graph search would run every
    iteration, and which cannot be switched off once DDP is built: its
    reducer is constructed with it, and setting the attribute later breaks
    the next backward pass). The zero gradient adds nothing to the clipped
    gradient norm, and a step pre-hook on the optimiser removes it before
    every step.

    Args:
        epochs (int): Number of frozen epochs. Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self, epochs: int = 1) -> None:
        check_int('FreezePrototypesHook', 'epochs', epochs, 0)
        self.epochs = epochs
        self._handle = None

    @staticmethod
    def _projector(runner):
        model = trained_model(runner)
        return model.projector

    def before_train(self, runner) -> None:
        """Let the optimiser skip the frozen prototypes at every step."""
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        if optimizer is None or self._handle is not None:
            return
        projector = self._projector(runner)
        self._handle = optimizer.register_step_pre_hook(
            lambda *args: projector.drop_frozen_gradients())

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def before_train_epoch(self, runner) -> None:
        self._projector(runner).freeze_prototypes = \
            runner.epoch < self.epochs
