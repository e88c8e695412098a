"""An epoch-based training loop that resumes exactly from inside an epoch."""
import logging
from typing import Dict, Iterator, List, Optional, Tuple, Union

from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import (BatchSampler, DataLoader, IterableDataset,
                              Sampler)

from mmpretrain.registry import LOOPS
from ...utils.rng_state import set_rng_states


class SkipFirst(Sampler):
    """A sampler that leaves out the first ``count`` indices of another.

    ``len()`` stays the wrapped sampler's, so that the epoch length every
    hook sees does not change.

    Args:
        sampler (Sampler): The wrapped sampler.
        count (int): How many of its first indices to leave out.
    """

    def __init__(self, sampler, count: int) -> None:
        self.sampler, self.count = sampler, count

    def __iter__(self) -> Iterator[int]:
        iterator = iter(self.sampler)
        for _ in range(self.count):
            if next(iterator, None) is None:
                break
        return iterator

    def __len__(self) -> int:
        return len(self.sampler)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop``, exact when resumed mid-epoch.

    mmengine's loop always starts an epoch at its first batch: resumed from
    a checkpoint written inside an epoch (every N iterations, or on
    SIGTERM) it would train that epoch's first batches again and go past
    ``max_iters``. This loop

    * starts the epoch at the first batch not yet trained
      (``runner.iter - epoch * len(dataloader)``), leaving out the trained
      batches' indices in the sampler without loading them (with torch's
      ``BatchSampler``; any other batch sampler: the batches are loaded and
      dropped, with a warning);
    * restores the random generators' states (python, numpy, torch, CUDA)
      that :class:`~cmd_plugin.engine.hooks.CMDCheckpointHook` saved with
      the checkpoint (``rng_states``, one per process), right before the
      first batch is fetched, so that the rest of the epoch draws the same
      augmentations (``num_workers=0``) and drop-path masks as the run that
      was not interrupted: bit for bit on CPU. Dataloader workers
      (``num_workers > 0``) are seeded per epoch, so inside an epoch their
      augmentations continue statistically, not bitwise.

    An uninterrupted run is exactly mmengine's loop (same batches, same
    random draws). The sampler's order must depend on the seed and the epoch
    alone, as with mmengine's ``DefaultSampler`` (the configs' sampler).

    Takes the arguments of ``EpochBasedTrainLoop``.

    Attributes:
        resume_rng_states (list | None): The generators' states per process
            from the checkpoint resumed from (set by ``CMDCheckpointHook``),
            restored once, inside the first epoch after a resume.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None
                 ) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self.resume_rng_states: Optional[list] = None

    def run_epoch(self) -> None:
        """Train the rest of the current epoch."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        length = len(self.dataloader)
        start = self._iter - self._epoch * length
        if not 0 <= start <= length:
            print_log(
                f'Resumed at iteration {self._iter}, which is not inside '
                f'epoch {self._epoch + 1} of {length} batches (did the '
                'batch size or the dataset change?); the epoch starts from '
                'its first batch.',
                logger='current', level=logging.WARNING)
            start = 0
        elif start:
            print_log(
                f'Resuming inside epoch {self._epoch + 1}: {start} of its '
                f'{length} batches were trained before the checkpoint.',
                logger='current', level=logging.INFO)
        batches = self._batches_from(start)
        if start:
            self._restore_rng_states()
        self.resume_rng_states = None
        try:
            for idx in range(start, length):
                data_batch = next(batches, None)
                if data_batch is None:  # a sampler shorter than its len()
                    break
                self.run_iter(idx, data_batch)
        finally:
            self._restore_sampler()
            batches = None
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _restore_rng_states(self) -> None:
        """Put the generators where the interrupted run had them."""
        states, self.resume_rng_states = self.resume_rng_states, None
        rank, world_size = get_dist_info()
        if states is None or len(states) != world_size:
            why = ('has no random-generator states' if states is None else
                   f'was written by {len(states)} processes, not '
                   f'{world_size}')
            print_log(
                f'The checkpoint resumed from {why}: the rest of epoch '
                f'{self._epoch + 1} draws other augmentations and drop-path '
                'masks than the uninterrupted run would have (statistically '
                'the same; not bitwise).',
                logger='current', level=logging.WARNING)
            return
        set_rng_states(states[rank])

    def _batches_from(self, start: int) -> Iterator:
        """An iterator over the dataloader's batches from ``start`` on."""
        self._skipping: Optional[tuple] = None
        if start == 0:
            return iter(self.dataloader)
        batch_sampler = getattr(self.dataloader, 'batch_sampler', None)
        if type(batch_sampler) is BatchSampler and not isinstance(
                self.dataloader.dataset, IterableDataset):
            self._skipping = (batch_sampler, batch_sampler.sampler)
            batch_sampler.sampler = SkipFirst(
                batch_sampler.sampler, start * batch_sampler.batch_size)
            return iter(self.dataloader)
        print_log(
            f'The dataloader has a {type(batch_sampler).__name__} batch '
            f'sampler: the {start} batches trained before the checkpoint '
            'are loaded and dropped to reach the next one.',
            logger='current', level=logging.WARNING)
        iterator = iter(self.dataloader)
        for _ in range(start):
            next(iterator)
        return iterator

    def _restore_sampler(self) -> None:
        """Undo :meth:`_batches_from`'s change to the batch sampler."""
        if getattr(self, '_skipping', None) is not None:
            batch_sampler, sampler = self._skipping
            batch_sampler.sampler = sampler
            self._skipping = None
