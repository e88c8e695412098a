"""Figures: training curves and spatial weight maps."""
from .log_curves import (DIAGNOSTIC_KEYS, find_scalars, merge_curves,
                         plot_curves, read_curves)
from .weight_maps import plot_weight_maps, relative_weights

__all__ = [
    'DIAGNOSTIC_KEYS', 'find_scalars', 'merge_curves', 'plot_curves',
    'plot_weight_maps', 'read_curves', 'relative_weights'
]
