"""The model a runner trains, without its distributed wrapper."""
from mmengine.model import is_model_wrapper
from torch import nn


def trained_model(runner) -> nn.Module:
    """``runner.model``, or the module inside it when it is wrapped (DDP,
    FSDP, ...): what the hooks read and set (for ``CMD``: its
    :attr:`~cmd_plugin.models.algorithms.cmd.CMD.momentum`,
    :attr:`~cmd_plugin.models.algorithms.cmd.CMD.teacher_temp`,
    :attr:`~cmd_plugin.models.algorithms.cmd.CMD.projector` and
    :attr:`~cmd_plugin.models.algorithms.cmd.CMD.num_prototypes`)."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model
