"""mmengine's CheckpointHook, crash-safe, and stopping cleanly on signals."""
import os.path as osp
from typing import List, Optional

import torch
from mmengine.dist import (all_gather_object, all_reduce, barrier,
                           get_world_size, is_main_process)
from mmengine.hooks import CheckpointHook

from mmpretrain.registry import HOOKS
from ...utils.atomic_files import (StorageFullError, remove_stale_temporaries,
                                   write_text_atomically)
from ...utils.interrupt import (IgnoreStopSignalsThen, TrainingInterrupted,
                                signal_name)
from ...utils.rng_state import get_rng_states

#: The message hub key of a checkpoint written on a signal, removed once a
#: newer regular checkpoint is complete.
INTERRUPT_CHECKPOINT_KEY = 'interrupt_ckpt'
#: The checkpoint key of the random generators' states, one per process.
RNG_STATES_KEY = 'rng_states'


def _is_local(path: str) -> bool:
    return '://' not in str(path)


@HOOKS.register_module()
class CMDCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that never loses a complete checkpoint.

    Takes the same arguments and saves the same files. What changes:

    * **Order of a save.** mmengine deletes the oldest checkpoint beyond
      ``max_keep_ckpts`` first, then writes the new one in place, then
      rewrites ``last_checkpoint`` in place: a kill in between can leave no
      complete checkpoint at all (``max_keep_ckpts=1``), a truncated
      ``.pth`` or a truncated ``last_checkpoint``. Here the new checkpoint
      is written atomically (temporary file, fsync, rename; the
      :class:`~cmd_plugin.engine.runner.CMDRunner` does that in
      ``save_checkpoint``), then ``last_checkpoint`` is replaced atomically,
      and only then are the old checkpoints deleted.
    * **Disk full.** A save that finds no room raises
      :class:`~cmd_plugin.utils.atomic_files.StorageFullError` naming the
      work dir, the space needed and free, and the previous checkpoint,
      which is intact.
    * **Stale temporary files** of a writer that was killed are deleted
      when training starts.
    * **Random generators.** Each checkpoint also holds the states of
      python's, numpy's and torch's generators of every process
      (``rng_states``), so that
      :class:`~cmd_plugin.engine.runner.ResumableEpochBasedTrainLoop`
      resumed from inside an epoch draws what the uninterrupted run drew.
    * **SIGTERM / SIGINT.** Under a ``CMDRunner`` the first such signal is
      recorded; after the current iteration (or before the next epoch,
      when it came during validation) this hook writes a checkpoint
      (``iter_<N>.pth``, unless one was just written for that iteration),
      logs where it is and raises
      :class:`~cmd_plugin.utils.interrupt.TrainingInterrupted` (exit status
      128 + the signal). In a multi-process run every process stops after
      the same iteration (the flag is reduced over processes). A checkpoint
      written on a signal is deleted once a newer regular one is complete.
      ``--resume`` continues from it, inside the epoch, exactly (with
      :class:`~cmd_plugin.engine.runner.ResumableEpochBasedTrainLoop`).

    Checkpoints every N iterations inside an epoch: ``by_epoch=False,
    interval=N`` (mmengine's own option; files ``iter_<N>.pth``).
    """

    def before_train(self, runner) -> None:
        """Set up as mmengine does; clean up; guard the dataloader workers."""
        super().before_train(runner)
        # the checkpoint resumed from is complete at this iteration
        self._saved_iter = runner.iter
        if is_main_process():
            folders = {runner.work_dir, self.out_dir}
            for folder in sorted(f for f in folders if _is_local(f)):
                for path in remove_stale_temporaries(folder):
                    runner.logger.info(
                        f'Removed {path}, the temporary file of a checkpoint '
                        'write that did not finish.')
        if getattr(getattr(runner, 'stop_signals', None), 'installed',
                   False):
            loaders = [runner.train_dataloader]
            if runner.val_loop is not None:
                loaders.append(getattr(runner.val_loop, 'dataloader', None))
            for loader in loaders:
                _guard_workers(loader)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the generators' states captured for this save."""
        states = getattr(self, '_rng_states', None)
        if states is not None:
            checkpoint[RNG_STATES_KEY] = states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Hand the generators' states to a loop that can restore them."""
        loop = getattr(runner, '_train_loop', None)
        if hasattr(loop, 'resume_rng_states'):
            loop.resume_rng_states = checkpoint.get(RNG_STATES_KEY)

    def before_train_epoch(self, runner) -> None:
        """Stop here if a signal came during the last epoch's end."""
        self._stop_if_requested(runner, runner.epoch, runner.iter,
                                f'before epoch {runner.epoch + 1}')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Save as mmengine does; then stop if a signal came."""
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self._stop_if_requested(runner, runner.epoch, runner.iter + 1,
                                f'in epoch {runner.epoch + 1}')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save, record, and only then delete what is no longer kept."""
        dropped: List[int] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        path = self._write(runner, self.filename_tmpl.format(step), meta,
                           self.by_epoch)
        self.last_ckpt = path
        if is_main_process():
            for old in dropped:
                old_path = self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(old))
                self._remove(runner, old_path, keep=path)

    def _write(self, runner, filename: str, meta: dict, by_epoch: bool,
               interrupt: bool = False) -> str:
        """Write a checkpoint and point ``last_checkpoint`` at it.

        Returns:
            str: Its path.
        """
        hub = runner.message_hub
        previous = hub.get_info('last_ckpt')
        path = self.file_backend.join_path(self.out_dir, filename)
        superseded = hub.pop_info(INTERRUPT_CHECKPOINT_KEY)
        if interrupt:
            hub.update_info(INTERRUPT_CHECKPOINT_KEY, path)
        hub.update_info('last_ckpt', path)
        # what every process's generators hold now is what the next batch
        # is drawn with (CheckpointHook runs last after an iteration)
        states = get_rng_states()
        self._rng_states = (all_gather_object(states)
                            if get_world_size() > 1 else [states])
        try:
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta, by_epoch=by_epoch,
                backend_args=self.backend_args, **self.args)
        except StorageFullError as error:
            hub.update_info('last_ckpt', previous)
            raise error.with_previous(previous, 'checkpoint') from None
        finally:
            self._rng_states = None
        self._saved_iter = meta.get('iter', runner.iter)
        if is_main_process():
            # Model parallel-like training would pull sharded states from
            # all ranks; like mmengine, only the main process writes this.
            write_text_atomically(
                osp.join(runner.work_dir, 'last_checkpoint'), path,
                what='record last_checkpoint')
            if superseded and superseded != path:
                self._remove(runner, superseded, keep=path)
        return path

    def _remove(self, runner, path: str, keep: str) -> None:
        """Delete an old checkpoint (never ``keep``)."""
        if path == keep:
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints
            self.file_backend.rmtree(path)

    def _stop_if_requested(self, runner, epoch: int, iteration: int,
                           where: str) -> None:
        """Checkpoint and raise ``TrainingInterrupted`` after a signal.

        Args:
            epoch (int): The epoch the next iteration belongs to (0-based).
            iteration (int): The number of iterations trained.
            where (str): E.g. ``'in epoch 3'``, for the message.
        """
        stop = getattr(runner, 'stop_signals', None)
        signum = _agree(stop.received if stop is not None else None)
        if not signum:
            return
        name = signal_name(signum)
        path: Optional[str] = None
        if iteration > getattr(self, '_saved_iter', 0):
            runner.logger.info(
                f'{name} received: saving checkpoint at {iteration} '
                'iterations before stopping.')
            path = self._write(runner, f'iter_{iteration}.pth',
                               dict(epoch=epoch, iter=iteration),
                               by_epoch=False, interrupt=True)
            self.last_ckpt = path
            done = f'saved the checkpoint {path}'
        elif iteration:
            path = runner.message_hub.get_info('last_ckpt')
            done = ('the checkpoint of this iteration was already saved'
                    + (f' ({path})' if path else ''))
        else:
            done = 'no iteration was trained yet, so no checkpoint is needed'
        barrier()  # no process exits before the checkpoint is complete
        message = (f'Training stopped by {name} after {iteration} '
                   f'iterations ({where}): {done}. Continue with the same '
                   'command and --resume (or --resume-if-any).')
        runner.logger.warning(message)
        raise TrainingInterrupted(signum, message, path)


def _agree(signum: Optional[int]) -> int:
    """The signal any process received (0 if none), the same on all."""
    value = int(signum or 0)
    if get_world_size() > 1:
        flag = torch.tensor([value], dtype=torch.int64)
        all_reduce(flag, op='max')
        value = int(flag.item())
    return value


def _guard_workers(loader) -> None:
    """Make ``loader``'s worker processes ignore SIGTERM and SIGINT."""
    if loader is None or not getattr(loader, 'num_workers', 0):
        return
    if isinstance(loader.worker_init_fn, IgnoreStopSignalsThen):
        return
    loader.worker_init_fn = IgnoreStopSignalsThen(loader.worker_init_fn)

