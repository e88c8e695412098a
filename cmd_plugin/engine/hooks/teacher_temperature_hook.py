"""Teacher temperature warm-up."""
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from ...utils.validation import check_number
from .trained_model import trained_model


@HOOKS.register_module()
class TeacherTemperatureHook(Hook):
    """Linear warm-up of the teacher temperature, then constant.

    ``tau_t = start + (end - start) * min(1, epoch / warmup_epochs)`` with a
    fractional epoch, set on ``model.teacher_temp`` before every
    iteration. The value is a function of the iteration alone, so a resumed
    run continues exactly; a run shorter than the warm-up simply stops on the
    way up.

    Args:
        start (float): Temperature at iteration 0. Defaults to 0.04.
        end (float): Temperature after the warm-up. Defaults to 0.07.
        warmup_epochs (float): Length of the warm-up. Defaults to 30.
    """

    priority = 'NORMAL'

    def __init__(self,
                 start: float = 0.04,
                 end: float = 0.07,
                 warmup_epochs: float = 30) -> None:
        check_number('TeacherTemperatureHook', 'start', start, low=0,
                     low_open=True)
        check_number('TeacherTemperatureHook', 'end', end, low=0,
                     low_open=True)
        check_number('TeacherTemperatureHook', 'warmup_epochs', warmup_epochs,
                     low=0)
        self.start = start
        self.end = end
        self.warmup_epochs = warmup_epochs

    def temperature(self, epoch: float) -> float:
        """Teacher temperature at a (fractional) epoch."""
        if self.warmup_epochs == 0:
            return self.end
        progress = min(1.0, epoch / self.warmup_epochs)
        return self.start + (self.end - self.start) * progress

    def before_train_iter(self, runner, batch_idx: int, data_batch=None):
        model = trained_model(runner)
        epoch = runner.iter / max(1, len(runner.train_dataloader))
        model.teacher_temp = self.temperature(epoch)
