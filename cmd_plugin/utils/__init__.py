from .crop_geometry import geometric_matching, region_centres

__all__ = ['geometric_matching', 'region_centres']
