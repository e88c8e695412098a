"""DINO's weighted k-NN top-1 accuracy: train features vote for test ones."""
from typing import Dict, List, Optional

from mmpretrain.registry import METRICS
from ...utils.validation import check_int, check_number
from ..functional import weighted_knn_predict
from .split_features import SplitFeatureMetric


@METRICS.register_module()
class KNNAccuracy(SplitFeatureMetric):
    """Top-1 accuracy of a weighted k-NN classifier on frozen features.

    The train-split features are the memory; every test-split feature is
    classified by its ``k`` nearest (cosine) train features, each voting with
    weight ``exp(sim / temperature)`` (DINO). Logs ``knn/top1`` in %.

    Args:
        k (int): Neighbours per test image. Defaults to 20.
        temperature (float): Temperature of the vote weights.
            Defaults to 0.07.
        chunk_size (int): Test images per similarity chunk.
            Defaults to 1024.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered across ranks. Defaults to ``'cpu'``.
        prefix (str): Prefix of the keys. Defaults to ``'knn'``.
    """
    default_prefix = 'knn'

    def __init__(self,
                 k: int = 20,
                 temperature: float = 0.07,
                 chunk_size: int = 1024,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_int('KNNAccuracy', 'k', k, 1)
        check_number('KNNAccuracy', 'temperature', temperature, low=0,
                     low_open=True)
        self.k = k
        self.temperature = temperature
        self.chunk_size = chunk_size

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Classify the test features with the train features.

        Args:
            results (list[dict]): What :meth:`process` stored.

        Returns:
            dict[str, float]: ``top1``, the accuracy in %.
        """
        def vote(train_feats, train_labels, test_feats):
            return weighted_knn_predict(train_feats, train_labels,
                                        test_feats, k=self.k,
                                        temperature=self.temperature,
                                        chunk_size=self.chunk_size)

        return self.train_to_test_top1(results, vote)
