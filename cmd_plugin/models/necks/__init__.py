from .mil_neck import MILNeck, MILOutput

__all__ = ['MILNeck', 'MILOutput']
