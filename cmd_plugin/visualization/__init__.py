"""Figures: training curves, spatial weight maps and where a network looks."""
from .instance_maps import (CheckpointMismatchError, InstanceMaps,
                            NotCMDConfigError, capture_cls_attention,
                            instance_maps, load_cmd_model, network_modules,
                            preprocess)
from .log_curves import (DIAGNOSTIC_KEYS, find_scalars, merge_curves,
                         plot_curves, read_curves)
from .mil_figures import global_crop_size, read_images, visualize
from .weight_maps import plot_weight_maps, relative_weights

__all__ = [
    'CheckpointMismatchError', 'DIAGNOSTIC_KEYS', 'InstanceMaps',
    'NotCMDConfigError', 'capture_cls_attention', 'find_scalars',
    'instance_maps', 'load_cmd_model', 'merge_curves', 'network_modules',
    'plot_curves', 'plot_weight_maps', 'preprocess', 'read_curves',
    'global_crop_size', 'read_images', 'relative_weights', 'visualize'
]
