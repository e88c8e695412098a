from .cmd_multi_crop import CMDMultiCrop
from .load_image_robust import LoadImageRobust
from .resize_for_device_crops import ResizeForDeviceCrops

__all__ = ['CMDMultiCrop', 'LoadImageRobust', 'ResizeForDeviceCrops']
