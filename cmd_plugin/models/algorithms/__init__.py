from .cmd import CMD
from .feature_extractor import CMDFeatureExtractor

__all__ = ['CMD', 'CMDFeatureExtractor']
