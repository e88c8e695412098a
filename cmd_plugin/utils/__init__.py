from .checkpoint_safety import load_checkpoint_safely, load_trusted_checkpoint
from .crop_geometry import geometric_matching, region_centres

__all__ = [
    'geometric_matching', 'load_checkpoint_safely', 'load_trusted_checkpoint',
    'region_centres'
]
