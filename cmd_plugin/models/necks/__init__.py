from .mil_neck import MILNeck, MILOutput
from .token_concat_neck import TokenConcatNeck

__all__ = ['MILNeck', 'MILOutput', 'TokenConcatNeck']
