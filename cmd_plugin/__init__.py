"""Cross-level Multi-instance Distillation (CMD) for mmpretrain.

Importing this package registers every component into mmpretrain's
registries, so configs load it with::

    custom_imports = dict(imports=['cmd_plugin'], allow_failed_imports=False)
"""
import warnings

# mmcv-lite (see setup.cfg) has no compiled ops; importing
# mmcv.cnn.bricks.transformer (mmpretrain does) warns that
# MultiScaleDeformableAttention, one of those ops, is missing and that full
# mmcv should be installed. mmpretrain needs none of mmcv.ops, so the warning
# only contradicts the install instructions. Filtered for exactly that
# message, and before the first mmpretrain import, which raises it.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``',
    category=UserWarning)

import mmpretrain.datasets  # noqa: E402,F401  (fills mmpretrain's registries first)
import mmpretrain.engine  # noqa: E402,F401
import mmpretrain.evaluation  # noqa: E402,F401
import mmpretrain.models  # noqa: E402,F401

from . import datasets, engine, evaluation, models, utils  # noqa: E402,F401

__version__ = '0.1.0'
