from .cmd_checkpoint import (NETWORKS, backbone_checkpoint, check_weights,
                             checkpoint_layout, network_modules,
                             select_network)
from .cmd_multi_crop_preprocessor import CMDMultiCropPreprocessor
from .cmd_pretrained_init import CMDPretrainedInit
from .image_features import FEATURES, as_image_batch, image_features

__all__ = [
    'CMDMultiCropPreprocessor', 'CMDPretrainedInit', 'FEATURES', 'NETWORKS',
    'as_image_batch', 'backbone_checkpoint', 'check_weights', 'checkpoint_layout', 'image_features',
    'network_modules', 'select_network'
]
