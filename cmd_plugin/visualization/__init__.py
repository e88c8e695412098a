"""Figures: training curves, spatial weight maps and where a network looks."""
from .image_files import read_images
from .instance_maps import (InstanceMaps, capture_cls_attention,
                            instance_maps, preprocess)
from .log_curves import (DIAGNOSTIC_KEYS, find_scalars, merge_curves,
                         plot_curves, read_curves)
from .weight_maps import plot_weight_maps, relative_weights

__all__ = [
    'DIAGNOSTIC_KEYS', 'InstanceMaps', 'capture_cls_attention',
    'find_scalars', 'instance_maps', 'merge_curves', 'plot_curves',
    'plot_weight_maps', 'preprocess', 'read_curves', 'read_images',
    'relative_weights'
]
