from .mil_neck import MILNeck
from .token_concat_neck import TokenConcatNeck

__all__ = ['MILNeck', 'TokenConcatNeck']
