"""Cross-level Multi-instance Distillation (CMD) for mmpretrain.

Importing this package registers every component into mmpretrain's
registries and makes mmengine load checkpoints safely (see
:func:`~cmd_plugin.utils.checkpoint_safety.install_checkpoint_safety` below),
so configs load it with::

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

# fill mmpretrain's registries first
import mmpretrain.datasets  # noqa: E402,F401
import mmpretrain.engine  # noqa: E402,F401
import mmpretrain.evaluation  # noqa: E402,F401
import mmpretrain.models  # noqa: E402,F401

from . import datasets, engine, evaluation, models, utils  # noqa: E402,F401
from .utils.checkpoint_safety import install_checkpoint_safety  # noqa: E402

# An explicit change to mmengine, for every runner of this process: each
# checkpoint it loads (load_from, resume, runner.load_checkpoint,
# init_cfg=Pretrained, URLs) goes through load_checkpoint_safely, that is
# torch.load(weights_only=True) with an allow-list of globals
# (SAFE_CHECKPOINT_GLOBALS), and its HistoryBuffer pickles as plain lists.
# Why: torch >= 2.6 loads with weights_only=True by default, but mmengine
# 0.10.7 pickles HistoryBuffer's statistics methods through builtins.getattr
# (allow-listing that would let a file call anything), loads URLs with
# weights_only=False and lets an environment variable switch weights_only off
# in its file loaders. A file that needs more than the allow-list is refused
# before any of its code runs. Idempotent. See the docstring of
# cmd_plugin/utils/checkpoint_safety.py and docs/reliability.md.
install_checkpoint_safety()

__version__ = '0.1.0'
