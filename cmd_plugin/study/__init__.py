"""The quality study (``tools/study.py``): variants of continued
pre-training from one start, evaluated on frozen teacher features."""
from .image_lists import (LabelledImages, Sample, carve_validation,
                          read_labelled_images)
from .recipe import ARCHS, INITS, VARIANTS, Recipe, study_config
from .runs import StudySetting
from .tables import write_reports

__all__ = [
    'ARCHS', 'INITS', 'LabelledImages', 'Recipe', 'Sample', 'StudySetting',
    'VARIANTS', 'carve_validation', 'read_labelled_images', 'study_config',
    'write_reports'
]
