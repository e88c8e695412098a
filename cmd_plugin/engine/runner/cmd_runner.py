"""mmengine's Runner with a quieter log and crash-safe checkpoints."""
import copy
import logging
import re
from typing import Optional

import torch
from mmengine.hooks import CheckpointHook
from mmengine.logging import MMLogger
from mmengine.runner import EpochBasedTrainLoop, Runner

from mmpretrain.registry import HOOKS, LOOPS, RUNNERS
from ...utils.checkpoint_files import find_resumable_checkpoint
from ...utils.interrupt import StopSignals
from ..hooks.cmd_checkpoint_hook import CMDCheckpointHook
from .atomic_backend import ATOMIC_BACKEND_ARGS
from .loops import ResumableEpochBasedTrainLoop


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
    """mmengine's ``Runner``, quieter and crash-safe.

    * Its logger has a :class:`QuietLogFilter`.
    * ``save_checkpoint`` writes a local checkpoint atomically (temporary
      file in the same folder, fsync, rename; see
      :class:`~cmd_plugin.engine.runner.atomic_backend.AtomicLocalBackend`):
      a kill at any moment leaves the old file or the new one, never a
      partial one; a full disk raises
      :class:`~cmd_plugin.utils.atomic_files.StorageFullError`.
    * mmengine's ``CheckpointHook`` in a config is built as
      :class:`~cmd_plugin.engine.hooks.CMDCheckpointHook` (same arguments:
      ``last_checkpoint`` replaced atomically, old checkpoints deleted only
      after the new one is complete, a checkpoint and a clean exit on
      SIGTERM / SIGINT), and mmengine's ``EpochBasedTrainLoop`` as
      :class:`ResumableEpochBasedTrainLoop` (exact resume from inside an
      epoch).
    * ``train()`` catches SIGTERM and SIGINT while it runs (when a
      ``CMDCheckpointHook`` is registered, which acts on them; see
      :class:`~cmd_plugin.utils.interrupt.StopSignals`).
    * ``resume=True`` without ``load_from`` resumes from the newest
      checkpoint of the work dir that is complete, skipping damaged ones
      with a warning (:func:`~cmd_plugin.utils.checkpoint_files.
      find_resumable_checkpoint`), instead of trusting ``last_checkpoint``.

    The configs select it with ``runner_type = 'mmpretrain.CMDRunner'``
    (``configs/_base_/default_runtime.py``);
    ``tools/train.py`` / ``tools/test.py`` and mmpretrain's own tools (``mim
    train mmpretrain ...``) build the runner a config names.
    """

    #: The signals caught while ``train()`` runs; None outside it.
    stop_signals: Optional[StopSignals] = None

    def build_logger(self, *args, **kwargs) -> MMLogger:
        """Build mmengine's logger and add the :class:`QuietLogFilter`."""
        logger = super().build_logger(*args, **kwargs)
        if not any(isinstance(f, QuietLogFilter) for f in logger.filters):
            logger.addFilter(QuietLogFilter())
        return logger

    def register_hook(self, hook, priority=None) -> None:
        """Register a hook; mmengine's ``CheckpointHook`` as ours."""
        if isinstance(hook, dict):
            hook_type = hook.get('type')
            cls = (hook_type if isinstance(hook_type, type) else
                   HOOKS.get(hook_type) if isinstance(hook_type, str) else
                   None)
            if cls is CheckpointHook:
                hook = copy.copy(hook)
                hook['type'] = CMDCheckpointHook
        elif type(hook) is CheckpointHook:
            hook.__class__ = CMDCheckpointHook  # same state, safer saves
        super().register_hook(hook, priority)

    def build_train_loop(self, loop):
        """Build the loop; mmengine's epoch-based one as the resumable one."""
        if isinstance(loop, dict):
            loop = copy.deepcopy(loop)
            if 'type' not in loop and loop.get('by_epoch') is True:
                loop.pop('by_epoch')
                loop['type'] = ResumableEpochBasedTrainLoop
            elif 'type' in loop:
                loop_type = loop['type']
                cls = (loop_type if isinstance(loop_type, type) else
                       LOOPS.get(loop_type))
                if cls is EpochBasedTrainLoop:
                    loop['type'] = ResumableEpochBasedTrainLoop
        return super().build_train_loop(loop)

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """mmengine's ``save_checkpoint``; atomic for a local ``out_dir``."""
        local = (file_client_args is None and '://' not in str(out_dir)
                 and (backend_args is None
                      or dict(backend_args) == {'backend': 'local'}))
        if local:
            backend_args = dict(ATOMIC_BACKEND_ARGS)
        super().save_checkpoint(
            out_dir, filename, file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler, meta=meta,
            by_epoch=by_epoch, backend_args=backend_args)

    def load_or_resume(self) -> None:
        """Load or resume; an automatic resume skips damaged checkpoints."""
        if self._has_loaded or not (self._resume and self._load_from is None):
            return super().load_or_resume()
        search = find_resumable_checkpoint(self.work_dir)
        for path, why in search.skipped:
            self.logger.warning(
                f'Resume: skipped the checkpoint {path}: {why}.')
        if search.path is None:
            self.logger.info(
                f'Resume: no complete checkpoint in {self.work_dir}; '
                'training starts from scratch.')
            return None
        self.logger.info(f'Auto resumed from the latest complete checkpoint '
                         f'{search.path}.')
        self.resume(search.path)
        self._has_loaded = True

    def train(self) -> torch.nn.Module:
        """Train; SIGTERM / SIGINT stop it after the current iteration.

        With a :class:`~cmd_plugin.engine.hooks.CMDCheckpointHook`
        registered, the first SIGTERM or SIGINT is recorded instead of ending
        the process; the hook then saves a checkpoint and raises
        :class:`~cmd_plugin.utils.interrupt.TrainingInterrupted`. The
        previous handlers are back when this returns or raises.
        """
        if not any(isinstance(hook, CMDCheckpointHook)
                   for hook in self.hooks):
            return super().train()
        with StopSignals() as stop:
            self.stop_signals = stop
            try:
                return super().train()
            finally:
                self.stop_signals = None


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
