"""Shared collection step of the metrics on labelled train / test features."""
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric

SPLITS = ('train', 'test')


class SplitFeatureMetric(BaseMetric):
    """Base of the metrics that compare image features across data splits.

    ``process`` keeps, for every data sample, its ``feature`` (1-D tensor,
    e.g. from :class:`CMDFeatureExtractor`), its ``gt_label`` and the
    ``split`` metainfo that :class:`LabelledSplits` adds (``'train'`` or
    ``'test'``). Subclasses implement ``compute_metrics`` on
    :meth:`split_features`.
    """

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the feature, label and split of each data sample.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, each a dict
                with ``feature`` ``(C,)``, ``gt_label`` and ``split``.
        """
        name = type(self).__name__
        for sample in data_samples:
            missing = [
                key for key in ('feature', 'gt_label', 'split')
                if key not in sample
            ]
            if missing:
                raise KeyError(
                    f'{name} needs data samples with feature, gt_label and '
                    f'split; missing {missing}. Use '
                    "model=dict(type='CMDFeatureExtractor', ...) and wrap the "
                    "test dataset in dict(type='LabelledSplits', train=..., "
                    'test=...).')
            if sample['split'] not in SPLITS:
                raise ValueError(f'{name}: unknown split '
                                 f'{sample["split"]!r}. Valid splits are '
                                 f'{list(SPLITS)}.')
            self.results.append(
                dict(
                    feature=sample['feature'].detach().float().cpu(),
                    label=int(sample['gt_label']),
                    split=sample['split']))

    def split_features(
        self, results: List[dict], splits: Sequence[str]
    ) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """Stack the stored results of the given splits, in dataset order.

        Args:
            results (list[dict]): What :meth:`process` stored, gathered from
                all ranks.
            splits (Sequence[str]): The splits needed; each must have
                samples.

        Returns:
            dict[str, tuple[Tensor, Tensor]]: For each split, features
            ``(N, C)`` and labels ``(N,)``.
        """
        stacked = {}
        for split in splits:
            rows = [r for r in results if r['split'] == split]
            if not rows:
                raise ValueError(
                    f'{type(self).__name__} got no {split!r} samples; it '
                    f'needs the {list(splits)} splits. Check the '
                    'LabelledSplits of the test dataloader.')
            stacked[split] = (torch.stack([r['feature'] for r in rows]),
                              torch.tensor([r['label'] for r in rows]))
        return stacked

    def train_to_test_top1(
        self, results: List[dict],
        predict: Callable[[torch.Tensor, torch.Tensor, torch.Tensor],
                          torch.Tensor]
    ) -> Dict[str, float]:
        """Top-1 of a classifier fitted on the train split, on the test one.

        Args:
            results (list[dict]): What :meth:`process` stored.
            predict (Callable): ``predict(train_feats (N, C), train_labels
                (N,), test_feats (M, C))`` returns the ``(M,)`` predicted
                labels.

        Returns:
            dict[str, float]: ``top1``, the test accuracy in %.
        """
        splits = self.split_features(results, ['train', 'test'])
        train_feats, train_labels = splits['train']
        test_feats, test_labels = splits['test']
        predictions = predict(train_feats, train_labels, test_feats)
        accuracy = (predictions == test_labels).float().mean().item()
        return {'top1': 100 * accuracy}
