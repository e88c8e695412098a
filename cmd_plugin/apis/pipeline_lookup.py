"""Find one transform of a config's training pipeline.

A multi-crop config names its crops once, in ``CMDMultiCrop`` of
``train_dataloader.dataset.pipeline``; a tool that reads the crop sizes or
overrides ``num_local`` finds that transform with :func:`find_transform`,
also when the dataset is wrapped (``RepeatDataset``,
``ClassBalancedDataset``, ``KFoldDataset`` hold it as ``dataset``,
``ConcatDataset`` as ``datasets``) and whether the type is written with
the registry scope (``'mmpretrain.CMDMultiCrop'``) or without.
"""
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..utils.validation import ConfigError

#: The keys through which dataset wrappers hold the datasets they wrap.
WRAPPED_DATASET_KEYS = ('dataset', 'datasets')
#: Where a config's training pipeline starts.
TRAIN_DATASET_KEY = 'train_dataloader.dataset'


def transform_type_name(transform: Mapping) -> str:
    """The registered name of a transform config, without a scope prefix.

    Args:
        transform (Mapping): A transform config; its ``type`` is a name
            (``'CMDMultiCrop'``, ``'mmpretrain.CMDMultiCrop'``) or a class.
    """
    kind = transform.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.rsplit('.', 1)[-1]


def _pipelines(dataset: Any, key: str) -> Iterator[Tuple[str, Sequence]]:
    """``(key path, pipeline)`` of a dataset config and those it wraps."""
    if not isinstance(dataset, Mapping):
        return
    if isinstance(dataset.get('pipeline'), (list, tuple)):
        yield f'{key}.pipeline', dataset['pipeline']
    for wrapped_key in WRAPPED_DATASET_KEYS:
        wrapped = dataset.get(wrapped_key)
        if isinstance(wrapped, (list, tuple)):
            for i, inner in enumerate(wrapped):
                yield from _pipelines(inner, f'{key}.{wrapped_key}[{i}]')
        else:
            yield from _pipelines(wrapped, f'{key}.{wrapped_key}')


def _train_pipelines(cfg: Any) -> List[Tuple[str, Sequence]]:
    """``(key path, pipeline)`` of every pipeline of the training dataset."""
    loader = cfg.get('train_dataloader') or {}
    return list(_pipelines(loader.get('dataset'), TRAIN_DATASET_KEY))


def _no_pipeline_error() -> ConfigError:
    return ConfigError(
        f'{TRAIN_DATASET_KEY}: no pipeline found (looked through the '
        f'{" and ".join(WRAPPED_DATASET_KEYS)} keys of dataset wrappers too).')


def train_pipeline(cfg: Any) -> list:
    """The training pipeline of a config, looking through dataset wrappers.

    Args:
        cfg (Config | dict): A full config.

    Returns:
        list: The pipeline itself (a list of transform configs).

    Raises:
        ConfigError: The training dataset has no pipeline, or more than one
            (e.g. a ``ConcatDataset``); the message names their keys.
    """
    pipelines = _train_pipelines(cfg)
    if not pipelines:
        raise _no_pipeline_error()
    if len(pipelines) > 1:
        raise ConfigError(
            f'{TRAIN_DATASET_KEY}: {len(pipelines)} pipelines '
            f'({", ".join(key for key, _ in pipelines)}); one is needed.')
    return pipelines[0][1]


def find_transform(cfg_or_pipeline: Any,
                   name: str,
                   required: bool = True) -> Optional[dict]:
    """The config of the one ``name`` transform of a training pipeline.

    Searches the top level of every pipeline under
    ``train_dataloader.dataset``, looking through dataset wrappers (see the
    module docstring); the transforms nested inside another transform
    (``RandomApply``, ``CMDMultiCrop``'s own photometric pipelines) are not
    searched.

    Args:
        cfg_or_pipeline (Config | dict | list): A full config, or a
            pipeline (a list of transform configs).
        name (str): The transform's registered name without a scope, e.g.
            ``'CMDMultiCrop'``.
        required (bool): Raise when there is none (or no training
            pipeline at all); else return None. Defaults to True.

    Returns:
        dict | None: The transform's config itself (changing it changes the
        config), or None when there is none and not ``required``.

    Raises:
        ConfigError: There is no such transform or no pipeline (and
            ``required``), or more than one such transform (changing or
            reading one of several would silently disagree with the
            others); the message names the config keys searched or found.
    """
    if isinstance(cfg_or_pipeline, (list, tuple)):
        pipelines: List[Tuple[str, Sequence]] = [('pipeline',
                                                  cfg_or_pipeline)]
    else:
        pipelines = _train_pipelines(cfg_or_pipeline)
        if not pipelines:
            if required:
                raise _no_pipeline_error()
            return None
    found = [(f'{key}[{i}]', transform) for key, pipeline in pipelines
             for i, transform in enumerate(pipeline)
             if isinstance(transform, Mapping)
             and transform_type_name(transform) == name]
    if len(found) > 1:
        raise ConfigError(f'{name} is in the training pipeline more than '
                          f'once: {", ".join(key for key, _ in found)}; keep '
                          'one.')
    if found:
        return found[0][1]
    if required:
        raise ConfigError(
            f'{" and ".join(key for key, _ in pipelines)}: no {name} (with '
            f'or without a scope prefix such as mmpretrain.{name}).')
    return None
