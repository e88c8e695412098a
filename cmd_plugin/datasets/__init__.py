from . import transforms  # noqa: F401
from .labelled_splits import LabelledSplits
from .synthetic_fine_grained import SyntheticFineGrained

__all__ = ['LabelledSplits', 'SyntheticFineGrained']
