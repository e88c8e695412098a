from .knn_metric import KNNAccuracy
from .linear_probe_metric import LinearProbeAccuracy
from .retrieval_metric import FineGrainedRetrieval

__all__ = ['FineGrainedRetrieval', 'KNNAccuracy', 'LinearProbeAccuracy']
