from .cmd_multi_crop import CMDMultiCrop

__all__ = ['CMDMultiCrop']
