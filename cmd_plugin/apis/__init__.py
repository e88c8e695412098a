"""The top floor: what the tools and users run on a whole config.

The public API, one place for each idea the tools share:
:func:`find_transform` (a transform of the training pipeline, through
dataset wrappers), :func:`build_model` (a config's CMD model, initialised
or from a checkpoint), :func:`network_modules` and :data:`NETWORKS` (the
teacher's or the student's backbone and neck), :func:`run_training` and
:func:`evaluate_checkpoint` (what tools/train.py and tools/test.py run),
:func:`visualize` (tools/visualize_mil.py's figures).
:mod:`.config_checks` (``check_config``, ``config_problems``) and
:mod:`.preflight` check a config before it is built.

These modules import the components they check or build (``CMD``,
``CMDMultiCrop``, ...), so nothing below this package imports it:
``cmd_plugin.utils`` is the lowest floor, the components (``models``,
``datasets``, ``engine``, ``evaluation``) sit on it, and this package on
them (``tests/test_import_layers.py`` checks that there is no import cycle).
"""
from ..models.utils.cmd_checkpoint import NETWORKS, network_modules
from .mil_figures import global_crop_size, visualize
from .model_loading import NotCMDConfigError, build_model, check_cmd_config
from .pipeline_lookup import (find_transform, train_pipeline,
                              transform_type_name)
from .training import evaluate_checkpoint, run_training, training_config

__all__ = [
    'NETWORKS', 'NotCMDConfigError', 'build_model', 'check_cmd_config',
    'evaluate_checkpoint', 'find_transform', 'global_crop_size',
    'network_modules',
    'run_training', 'train_pipeline', 'training_config',
    'transform_type_name', 'visualize'
]
