"""mmengine's Runner with a quieter log."""
import logging
import re

import torch
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from mmpretrain.registry import RUNNERS


class QuietLogFilter(logging.Filter):
    """Drop mmengine's per-parameter lines; no "GPU number" without GPUs.

    * mmengine's ``DefaultOptimWrapperConstructor`` logs one line per frozen
      parameter (``teacher.backbone... is skipped since its
      requires_grad=False``: 163 of 642 lines of a short CMD run) and one per
      parameter option (``paramwise_options -- ...``). These are dropped;
      :class:`~cmd_plugin.engine.hooks.RunSummaryHook` logs one summary
      line instead.
    * The runtime environment block counts processes as ``GPU number``;
      on a machine without CUDA it says ``Processes: N (no GPU)``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to log ``record`` (which may be rewritten)."""
        message = record.msg
        if not isinstance(message, str):
            return True
        if message.startswith('paramwise_options -- ') or \
                message.endswith(' is skipped since its requires_grad=False'):
            return False
        if 'GPU number: ' in message and not torch.cuda.is_available():
            record.msg = re.sub(r'GPU number: (\d+)', r'Processes: \1 (no GPU)',
                                message)
        return True


@RUNNERS.register_module()
class CMDRunner(Runner):
    """mmengine's ``Runner`` whose logger has a :class:`QuietLogFilter`.

    Nothing else changes. The configs select it with
    ``runner_type = 'mmpretrain.CMDRunner'``
    (``configs/_base_/default_runtime.py``);
    ``tools/train.py`` / ``tools/test.py`` and mmpretrain's own tools (``mim
    train mmpretrain ...``) build the runner a config names.
    """

    def build_logger(self, *args, **kwargs) -> MMLogger:
        """Build mmengine's logger and add the :class:`QuietLogFilter`."""
        logger = super().build_logger(*args, **kwargs)
        if not any(isinstance(f, QuietLogFilter) for f in logger.filters):
            logger.addFilter(QuietLogFilter())
        return logger


def build_runner(cfg) -> Runner:
    """The runner a config asks for, as mmpretrain's tools build it.

    Args:
        cfg (Config): The full config.

    Returns:
        Runner: ``RUNNERS.build(cfg)`` when the config names a
        ``runner_type`` (e.g. ``'CMDRunner'``), else ``Runner.from_cfg``.
    """
    if cfg.get('runner_type'):
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
