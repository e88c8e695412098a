"""A train and a test dataset in one, each sample tagged with its split."""
from itertools import zip_longest
from typing import Union

from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.structures import BaseDataElement

from mmpretrain.registry import DATASETS

SPLITS = ('train', 'test')


@DATASETS.register_module()
class LabelledSplits(ConcatDataset):
    """The train split followed by the test split of a labelled dataset.

    Feature-based evaluations (k-NN, retrieval against the train split) run
    one test loop over both splits. Each sample's data sample gets the
    metainfo ``split`` (``'train'`` or ``'test'``), which
    :class:`KNNAccuracy` and :class:`FineGrainedRetrieval` read, so each
    split's pipeline must end with ``PackInputs`` (its default ``meta_keys``
    are enough).

    Checked when the dataset is initialised: both splits are non-empty, they
    share their class names, and every test class occurs in the train split.

    Example::

        dataset = dict(
            type='LabelledSplits',
            train=dict(type='CUB', data_root=root, split='train',
                       pipeline=test_pipeline),
            test=dict(type='CUB', data_root=root, split='test',
                      pipeline=test_pipeline))

    Args:
        train (dict | BaseDataset): The train split, or its config.
        test (dict | BaseDataset): The test split, or its config.
        lazy_init (bool): Defer loading the annotations (and the checks)
            until first use. Defaults to False.
    """

    def __init__(self,
                 train: Union[dict, BaseDataset],
                 test: Union[dict, BaseDataset],
                 lazy_init: bool = False) -> None:
        # configs are built lazily so that full_init() can name a split
        # that fails to load; class names are checked once loaded
        datasets = [
            DATASETS.build(dict(split, lazy_init=True))
            if isinstance(split, dict) else split for split in (train, test)
        ]
        super().__init__(datasets, lazy_init=lazy_init, ignore_keys='classes')

    def full_init(self) -> None:
        """Load both splits and check that they fit together."""
        if self._fully_initialized:
            return
        for split, dataset in zip(SPLITS, self.datasets):
            try:
                dataset.full_init()
            except ValueError as err:
                raise ValueError(
                    f'LabelledSplits: cannot load the {split} split '
                    f'({type(dataset).__name__}): {err}. An empty split '
                    'fails like this; check '
                    f'{split}=dict(...) (data_root, split).') from err
            if len(dataset) == 0:
                raise ValueError(
                    f'LabelledSplits: the {split} split is empty '
                    f'({type(dataset).__name__}). Check {split}=dict(...) '
                    '(data_root, split).')
        super().full_init()
        self._metainfo = self.datasets[0].metainfo
        self._check_class_names()
        self._check_test_labels()

    def _check_class_names(self) -> None:
        """Both splits must name the same classes in the same order."""
        train_classes, test_classes = (
            list(d.metainfo.get('classes') or ()) for d in self.datasets)
        if train_classes != test_classes:
            index, (train_name, test_name) = next(
                (i, pair) for i, pair in enumerate(
                    zip_longest(train_classes, test_classes))
                if pair[0] != pair[1])
            raise ValueError(
                'LabelledSplits: the train and test datasets name different '
                f'classes; the first difference is class {index}: '
                f'{train_name!r} (train) vs {test_name!r} (test). Both must '
                'read the same class list.')

    def _check_test_labels(self) -> None:
        """Every test class must occur in the train split."""
        train, test = ({
            int(dataset.get_data_info(i)['gt_label'])
            for i in range(len(dataset))
        } for dataset in self.datasets)
        absent = sorted(test - train)
        if absent:
            classes = self.metainfo.get('classes')
            names = [classes[i] for i in absent] if classes else absent
            raise ValueError(
                f'LabelledSplits: {len(absent)} test classes are absent from '
                f'the train split: {names[:10]}. k-NN and retrieval '
                'against the train split need every test class in it; check '
                'the train=/test= configs (e.g. the same data_root).')

    def split_of(self, idx: int) -> str:
        """``'train'`` or ``'test'``: the split of the ``idx``-th sample."""
        return SPLITS[self._get_ori_dataset_idx(idx)[0]]

    def get_data_info(self, idx: int) -> dict:
        """The annotation of the ``idx``-th sample plus its ``split``."""
        info = super().get_data_info(idx)
        info['split'] = self.split_of(idx)
        return info

    def __getitem__(self, idx: int) -> dict:
        """The packed ``idx``-th sample; its data sample carries ``split``."""
        results = super().__getitem__(idx)
        if not isinstance(results, dict) or not isinstance(
                results.get('data_samples'), BaseDataElement):
            found = (sorted(results) if isinstance(results, dict) else
                     type(results).__name__)
            raise TypeError(
                "LabelledSplits needs each split's pipeline to end with "
                'PackInputs, whose data sample gets the split; the '
                f'{self.split_of(idx)} pipeline gives {found}.')
        results['data_samples'].set_metainfo({'split': self.split_of(idx)})
        return results

