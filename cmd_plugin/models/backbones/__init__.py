from .multi_crop_swin import MultiCropSwinTransformer, stage_windows

__all__ = ['MultiCropSwinTransformer', 'stage_windows']
