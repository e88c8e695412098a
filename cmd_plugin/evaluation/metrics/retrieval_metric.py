"""Class-level image retrieval (Rank-1, Recall@K, mAP) on a labelled set."""
from typing import Dict, List, Optional, Sequence

import torch

from mmpretrain.registry import METRICS
from ...utils.validation import check_choice, check_int
from ..functional import leave_one_out_retrieval, retrieval_metrics
from .split_features import SplitFeatureMetric

# protocol -> (name in the log keys, default map_top)
PROTOCOLS = {
    'leave_one_out': ('loo', None),
    'cmd_official': ('cmd_official', 100),
}
QUERY_EVERY = 9  # cmd_official: test images 0, 9, 18, ... are the queries


@METRICS.register_module()
class FineGrainedRetrieval(SplitFeatureMetric):
    """Retrieval of same-class images by cosine similarity of features.

    Protocols:

    - ``'leave_one_out'`` (LCR, CVPR 2023): every test image queries all the
      other test images, never itself. Train images are not used.
    - ``'cmd_official'`` (the official CMD code): test images 0, 9, 18, ...
      (in dataset order) query the train split plus the remaining test
      images; mAP over the top 100 results.

    Every key names its protocol, e.g. ``retrieval/loo/rank1``,
    ``retrieval/loo/recall@4``, ``retrieval/loo/mAP`` or
    ``retrieval/cmd_official/mAP@100``. Values are percentages. See
    :func:`~cmd_plugin.evaluation.functional.retrieval_metrics` for the
    definitions.

    Args:
        protocol (str): ``'leave_one_out'`` or ``'cmd_official'``.
            Defaults to ``'leave_one_out'``.
        topk (Sequence[int]): The ``K`` of each Recall@K.
            Defaults to (1, 2, 4, 8).
        map_top (int, optional): mAP over the top ``map_top`` results. None
            takes the protocol's choice: all results for leave_one_out,
            100 for cmd_official. Defaults to None.
        chunk_size (int): Queries per similarity chunk. Defaults to 1024.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered across ranks. Defaults to ``'cpu'``.
        prefix (str): Prefix of the keys. Defaults to ``'retrieval'``.
    """
    default_prefix = 'retrieval'

    def __init__(self,
                 protocol: str = 'leave_one_out',
                 topk: Sequence[int] = (1, 2, 4, 8),
                 map_top: Optional[int] = None,
                 chunk_size: int = 1024,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_choice('FineGrainedRetrieval', 'protocol', protocol, PROTOCOLS)
        for k in topk:
            check_int('FineGrainedRetrieval', 'topk', k, 1)
        if map_top is not None:
            check_int('FineGrainedRetrieval', 'map_top', map_top, 1)
        self.protocol = protocol
        self.topk = tuple(topk)
        self.map_top = PROTOCOLS[protocol][1] if map_top is None else map_top
        self.chunk_size = chunk_size

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Rank the gallery for every query of the protocol.

        Args:
            results (list[dict]): What :meth:`process` stored.

        Returns:
            dict[str, float]: ``<protocol>/rank1``, ``<protocol>/recall@K``
            and ``<protocol>/mAP`` (``mAP@<map_top>`` when truncated), in %.
        """
        options = dict(
            topk=self.topk, map_top=self.map_top, chunk_size=self.chunk_size)
        if self.protocol == 'leave_one_out':
            test_feats, test_labels = self.split_features(results,
                                                          ['test'])['test']
            scores = leave_one_out_retrieval(test_feats, test_labels,
                                             **options)
        else:
            splits = self.split_features(results, ['train', 'test'])
            train_feats, train_labels = splits['train']
            test_feats, test_labels = splits['test']
            is_query = torch.arange(len(test_labels)) % QUERY_EVERY == 0
            scores = retrieval_metrics(
                test_feats[is_query],
                test_labels[is_query],
                torch.cat([train_feats, test_feats[~is_query]]),
                torch.cat([train_labels, test_labels[~is_query]]),
                **options)
        if self.map_top is not None:
            scores[f'mAP@{self.map_top}'] = scores.pop('mAP')
        name = PROTOCOLS[self.protocol][0]
        return {f'{name}/{key}': 100 * value for key, value in scores.items()}
