"""Top-1 accuracy of a fast linear probe: train features fit, test scored."""
from typing import Dict, List, Optional

from mmpretrain.registry import METRICS
from ...utils.validation import check_number
from ..linear_probe import PROBE_WEIGHT_DECAY, linear_probe_predict
from .split_features import SplitFeatureMetric


@METRICS.register_module()
class LinearProbeAccuracy(SplitFeatureMetric):
    """Logistic regression on frozen train features, top-1 on test ones.

    The probe of :func:`~cmd_plugin.evaluation.linear_probe.
    linear_probe_predict` (standardised features, L-BFGS, deterministic)
    fitted on the train split's features and scored on the test split's,
    in one pass of ``tools/test.py`` next to :class:`KNNAccuracy`: a fast
    probe on cached features, not the augmented SGD classifier of
    ``configs/benchmarks/linear_*``. Logs ``linear/top1`` in %.

    Args:
        weight_decay (float): L2 penalty of the probe's weights.
            Defaults to 1e-3.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered across ranks. Defaults to ``'cpu'``.
        prefix (str): Prefix of the keys. Defaults to ``'linear'``.
    """
    default_prefix = 'linear'

    def __init__(self,
                 weight_decay: float = PROBE_WEIGHT_DECAY,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_number('LinearProbeAccuracy', 'weight_decay', weight_decay,
                     low=0)
        self.weight_decay = weight_decay

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Fit on the train features, classify the test features.

        Args:
            results (list[dict]): What :meth:`process` stored.

        Returns:
            dict[str, float]: ``top1``, the accuracy in %.
        """
        def fit_and_predict(train_feats, train_labels, test_feats):
            num_classes = int(train_labels.max()) + 1
            return linear_probe_predict(train_feats, train_labels,
                                        test_feats, num_classes,
                                        self.weight_decay)

        return self.train_to_test_top1(results, fit_and_predict)
