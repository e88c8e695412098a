"""Report how many unreadable images the training pipeline skipped."""
from typing import Any, List

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from ...datasets.transforms.load_image_robust import LoadImageRobust

# Attributes through which datasets, dataset wrappers (Concat, Repeat,
# ClassBalanced), Compose and random-choice transforms hold their children.
_CHILD_ATTRIBUTES = ('dataset', 'datasets', 'pipeline', 'transforms')


def find_robust_loaders(node: Any) -> List[LoadImageRobust]:
    """Find the ``LoadImageRobust`` transforms inside a dataset.

    Args:
        node (Any): A dataset, dataset wrapper, pipeline or transform.

    Returns:
        list[LoadImageRobust]: Every instance reachable through
        ``dataset``, ``datasets``, ``pipeline`` and ``transforms``.
    """
    if isinstance(node, LoadImageRobust):
        return [node]
    if isinstance(node, (list, tuple)):
        return [
            found for child in node
            for found in find_robust_loaders(child)
        ]
    return [
        found for attr in _CHILD_ATTRIBUTES
        for found in find_robust_loaders(getattr(node, attr, ()))
    ]


@HOOKS.register_module()
class BadImageCountHook(Hook):
    """Log the number of images ``LoadImageRobust`` skipped in each epoch.

    After every training epoch it logs ``N unreadable image(s) skipped`` (a
    warning when N > 0; the individual files are named in the warnings
    ``LoadImageRobust`` logged while loading them) and resets the count.
    The count includes files skipped in dataloader worker processes, and
    a file met twice counts twice, as does a replacement that is itself
    unreadable. Only epoch-based training calls ``after_train_epoch``.
    """

    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        """Find the loaders of the training dataset."""
        self._loaders = find_robust_loaders(runner.train_dataloader.dataset)
        self._total = 0
        if not self._loaders:
            runner.logger.warning(
                'BadImageCountHook: the training pipeline has no '
                "LoadImageRobust, so there is nothing to count. Replace "
                "'LoadImageFromFile' by 'LoadImageRobust' in it, or drop "
                'the hook.')

    def after_train_epoch(self, runner) -> None:
        """Log and reset the number of images skipped in this epoch."""
        if not self._loaders:
            return
        skipped = sum(loader.pop_num_skipped() for loader in self._loaders)
        self._total += skipped
        message = (f'Epoch {runner.epoch + 1}: {skipped} unreadable '
                   f'image(s) skipped ({self._total} since the start of this '
                   'run).')
        if skipped:
            runner.logger.warning(message)
        else:
            runner.logger.info(message)
