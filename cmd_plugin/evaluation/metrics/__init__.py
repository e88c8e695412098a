from .knn_metric import KNNAccuracy
from .retrieval_metric import FineGrainedRetrieval

__all__ = ['FineGrainedRetrieval', 'KNNAccuracy']
