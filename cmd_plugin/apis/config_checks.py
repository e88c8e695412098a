"""Validate config options, naming the config key of every bad value.

One floor above the components: this module imports the classes it checks
(``CMD``, ``CMDMultiCrop``, ``CMDMultiCropPreprocessor``), so nothing in
``models``, ``datasets``, ``engine``, ``evaluation`` or ``utils`` imports it.

The plugin's constructors check their own arguments with the helpers of
:mod:`cmd_plugin.utils.validation`, whose messages start with
``Class.argument:`` (e.g. ``CMDHead.matching: unknown value 'nearest'. Valid
choices are [...]``), so an error raised while the runner builds a component
still names the option.

:func:`check_config`, which ``tools/train.py`` runs on the whole config
before building the runner, finds every ``cmd_plugin`` component in the
config, checks its argument names, builds the light ones (necks, heads,
transforms, hooks, metrics, initialisers; modules on the meta device) alone
to run their checks, and checks that components agree with each other. Its
messages replace ``Class.`` by the key path, e.g.
``model.head.matching: ...``, and list every problem at once.
"""
import inspect
from typing import Any, Dict, Iterator, List, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import WEIGHT_INITIALIZERS

from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
from ..datasets.transforms import CMDMultiCrop
from ..models.algorithms import CMD, CMDFeatureExtractor
from ..models.algorithms.cmd import untrained_attention_problem
from ..models.utils import CMDMultiCropPreprocessor
from ..utils.validation import ConfigError

#: Registries that hold the plugin's components.
_REGISTRIES = (MODELS, TRANSFORMS, HOOKS, DATASETS, METRICS,
               WEIGHT_INITIALIZERS)


#: ``in_channels`` used to check a neck or head alone when the model will
#: read it from its backbone (the check builds no backbone).
BACKBONE_WIDTH_PLACEHOLDER = 8


def plugin_classes() -> Dict[str, type]:
    """Every class ``cmd_plugin`` registered, by registered name."""
    return {
        name: cls
        for registry in _REGISTRIES
        for name, cls in registry.module_dict.items()
        if cls.__module__.startswith('cmd_plugin.')
    }


def _components(node: Any, path: str,
                classes: Dict[str, type]) -> Iterator[Tuple[str, type, dict]]:
    """``(key path, class, config)`` of every plugin component in ``node``."""
    if isinstance(node, dict):
        cls = node.get('type')
        if isinstance(cls, str):
            cls = classes.get(cls.split('.')[-1])
        if isinstance(cls, type) and cls.__module__.startswith('cmd_plugin.'):
            yield path, cls, node
        for key, value in node.items():
            yield from _components(value, f'{path}.{key}' if path else key,
                                   classes)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _components(value, f'{path}[{index}]', classes)


def _at_path(path: str, cls: type, error: Exception) -> str:
    """An error message of ``cls``, re-anchored at its key path."""
    message = str(error)
    prefix = f'{cls.__name__}.'
    if message.startswith(prefix):
        return f'{path}.{message[len(prefix):]}'
    return f'{path}: {message}'


def _bind(path: str, cls: type, kwargs: dict) -> Tuple[List[str], dict]:
    """Check argument names against ``cls``'s signature.

    Args:
        path (str): Key path of the component.
        cls (type): Its class.
        kwargs (dict): Its config without ``type``.

    Returns:
        tuple: The problems (unknown or missing arguments) and every named
        argument's value, defaults filled in.
    """
    parameters = inspect.signature(cls).parameters
    named = {
        n: p
        for n, p in parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    problems = [
        f'{path}.{name}: required by {cls.__name__} but not set.'
        for name, p in named.items()
        if p.default is p.empty and name not in kwargs
    ]
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        problems += [
            f'{path}.{name}: not an argument of {cls.__name__}. Valid '
            f'arguments are {list(named)}.' for name in kwargs
            if name not in named
        ]
    defaults = {
        n: p.default
        for n, p in named.items() if p.default is not p.empty
    }
    return problems, dict(defaults, **kwargs)


def _builds_alone(cls: type) -> bool:
    """Whether checking ``cls`` may build it: light and without side effects.

    Algorithms and backbones build whole networks (mmpretrain's Swin reads
    values while it builds, which the meta device cannot give) and datasets
    read or generate data; their constructors check their own values when
    the runner builds them.
    """
    return not (issubclass(cls, (BaseModel, BaseBackbone)) or cls in
                DATASETS.module_dict.values())


def _check_cmd(path: str, values: dict,
               global_crops: Dict[str, int]) -> List[str]:
    """Check that a CMD model's head fits its neck and its training crops.

    Args:
        path (str): Key path of the model.
        values (dict): Its arguments, defaults filled in.
        global_crops (dict[str, int]): Number of global crops made by each
            ``CMDMultiCrop`` of the training pipeline and by a
            ``CMDMultiCropPreprocessor``, by key path.

    Returns:
        list[str]: The problems found.
    """
    problems = []
    neck, head = values.get('neck'), values.get('head')
    if isinstance(neck, dict) and isinstance(head, dict) and \
            'in_channels' in neck and 'in_channels' in head and \
            head['in_channels'] != neck['in_channels']:
        problems.append(
            f'{path}.head.in_channels: must equal {path}.neck.in_channels '
            f'({neck["in_channels"]!r}), the width of the region tokens and '
            f'image embeddings, got {head["in_channels"]!r}.')
    if isinstance(neck, dict) and isinstance(head, dict):
        # an absent embedding is read from the backbone when it is built
        # (CMD then raises the same error); here only the set keys count
        problem = untrained_attention_problem(
            dict({'attention': 'gated'}, **neck),
            dict({'reg_weight': 1.0, 'inter_weight': 1.0,
                  'weighting': 'mil'}, **head))
        if problem:
            problems.append(_at_path(path, CMD, ValueError(problem)))
    for crop_path, num_global in global_crops.items():
        if values.get('num_global_crops') != num_global:
            problems.append(
                f'{path}.num_global_crops: must equal the number of global '
                f'crops {crop_path} makes ({num_global}), got '
                f'{values.get("num_global_crops")!r}.')
    return problems


def check_config(cfg: Config) -> None:
    """Check every ``cmd_plugin`` component of a config before training.

    Args:
        cfg (Config | dict): The full config.

    Raises:
        ConfigError: Listing every problem found, each starting with its
            key path (``model.head.matching: unknown value 'nearest'. ...``).
    """
    problems = config_problems(cfg)
    if problems:
        raise ConfigError('Invalid config:\n  ' + '\n  '.join(problems))


def config_problems(cfg: Config) -> List[str]:
    """The problems :func:`check_config` reports, one line each.

    Args:
        cfg (Config | dict): The full config.

    Returns:
        list[str]: Each problem, starting with its key path; empty if none.
    """
    tree = cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
    problems, cmd_models, global_crops = [], [], {}
    crops_in_loader, crops_on_device = [], []
    components = list(_components(tree, '', plugin_classes()))
    # necks and heads whose in_channels the model reads from its backbone
    from_backbone = {
        f'{path}.{part}'
        for path, cls, _ in components
        if cls in (CMD, CMDFeatureExtractor) for part in ('neck', 'head')
    }
    for path, cls, node in components:
        kwargs = {k: v for k, v in node.items() if k != 'type'}
        if issubclass(cls, Hook):
            kwargs.pop('priority', None)  # the runner's, not the hook's
        if path in from_backbone and kwargs.get('in_channels') is None:
            kwargs['in_channels'] = BACKBONE_WIDTH_PLACEHOLDER
        found, values = _bind(path, cls, kwargs)
        problems += found
        if cls is CMD and not found:
            cmd_models.append((path, values))
        if found or not _builds_alone(cls):
            continue
        try:
            with torch.device('meta'):  # no memory, no initialisation cost
                built = cls(**kwargs)
        except (ValueError, TypeError, KeyError) as error:
            problems.append(_at_path(path, cls, error))
            continue
        if isinstance(built, CMDMultiCrop) and \
                path.startswith('train_dataloader.'):
            global_crops[path] = built.num_global
            crops_in_loader.append(path)
        if isinstance(built, CMDMultiCropPreprocessor) and path in (
                'data_preprocessor', 'model.data_preprocessor'):
            global_crops[path] = built.num_global
            crops_on_device.append(path)
    for path, values in cmd_models:
        problems += _check_cmd(path, values, global_crops)
    problems += [
        f'{device}: CMDMultiCropPreprocessor makes the crops on the device '
        f'from one resized image per sample, but {loader} makes them in the '
        "loader already. Either replace CMDMultiCrop by dict(type="
        "'ResizeForDeviceCrops') (device path) or use "
        "dict(type='SelfSupDataPreprocessor') (CPU path)."
        for device in crops_on_device for loader in crops_in_loader
    ]
    return problems
