from .cmd_multi_crop import CMDMultiCrop
from .load_image_robust import LoadImageRobust

__all__ = ['CMDMultiCrop', 'LoadImageRobust']
