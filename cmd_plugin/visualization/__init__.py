"""Figures: training curves."""
from .log_curves import (DIAGNOSTIC_KEYS, find_scalars, plot_curves,
                         read_curves)

__all__ = ['DIAGNOSTIC_KEYS', 'find_scalars', 'plot_curves', 'read_curves']
