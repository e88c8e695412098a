"""Cross-level Multi-instance Distillation (CMD) for mmpretrain.

Importing this package registers every component into mmpretrain's
registries, so configs load it with::

    custom_imports = dict(imports=['cmd_plugin'], allow_failed_imports=False)
"""
import mmpretrain.datasets  # noqa: F401  (fills mmpretrain's registries first)
import mmpretrain.engine  # noqa: F401
import mmpretrain.evaluation  # noqa: F401
import mmpretrain.models  # noqa: F401

from . import datasets, engine, evaluation, models, utils  # noqa: F401

__version__ = '0.1.0'
