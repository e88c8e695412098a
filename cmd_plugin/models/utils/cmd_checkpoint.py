"""Pick the teacher's or the student's weights out of a CMD checkpoint,
or its modules out of a CMD model.

The state dict of a :class:`CMD` pre-training model holds the student as
``backbone.*``, ``neck.*``, ``head.*`` and the EMA teacher as
``teacher.backbone.*``, ``teacher.neck.*``, ``teacher.projector.*``. The
evaluation models and the linear-probe initialiser load one network's
backbone (and neck) from it, strictly: a key that does not fit is an error,
never a silently random layer. The same split, by attribute, gives a built
model's networks (:func:`network_modules`).
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from cmd_plugin.utils.checkpoint_conversion import (make_checkpoint,
                                                    match_reference)
from cmd_plugin.utils.user_errors import UserError
from cmd_plugin.utils.validation import check_choice

NETWORKS = ('teacher', 'student')
StateDict = Dict[str, torch.Tensor]


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint does not hold the weights the model needs.

    A user error (the tools print its message and exit with status 2): the
    checkpoint, the config or ``network`` has to change, not the code.
    """


def check_network(network: str, config_key: str) -> None:
    """Raise a ValueError naming ``config_key`` for an unknown network.

    Args:
        network (str): One of :data:`NETWORKS`.
        config_key (str): What sets it: ``Class.network`` or a key path
            such as ``model.network``.
    """
    owner, _, name = config_key.rpartition('.')
    check_choice(owner, name, network, NETWORKS)


def network_modules(model: nn.Module,
                    network: str) -> Tuple[nn.Module, Optional[nn.Module]]:
    """The backbone and neck of the teacher or the student of a CMD model.

    Args:
        model (nn.Module): A :class:`CMD` model (not wrapped): the student is
            ``model.backbone`` / ``model.neck``, the teacher
            ``model.teacher.backbone`` / ``model.teacher.neck``.
        network (str): One of :data:`NETWORKS`.

    Returns:
        tuple[nn.Module, nn.Module | None]: ``(backbone, neck)``; the neck
        is None for a model without one.
    """
    check_network(network, 'network')
    owner = model.teacher if network == 'teacher' else model
    return owner.backbone, getattr(owner, 'neck', None)


def checkpoint_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Tell how a checkpoint's state dict stores its network(s).

    Args:
        state_dict (Mapping[str, Tensor]): The checkpoint's state dict.

    Returns:
        str: ``'cmd'`` (a CMD pre-training checkpoint: it has
        ``teacher.backbone.*`` keys; the student is ``backbone.*``, ...),
        ``'model'`` (another model with ``backbone.*`` keys, e.g. an
        mmpretrain classifier: one network, read as the student) or
        ``'backbone'`` (neither prefix: every key is a backbone key, as
        written by ``tools/extract_backbone.py`` and
        ``tools/convert_pretrained.py``).
    """
    if any(k.startswith('teacher.backbone.') for k in state_dict):
        return 'cmd'
    if any(k.startswith('backbone.') for k in state_dict):
        return 'model'
    return 'backbone'


def select_network(state_dict: Mapping[str, torch.Tensor],
                   network: str,
                   parts: Sequence[str],
                   config_key: str = 'network') -> Tuple[StateDict, str]:
    """Select the ``parts`` of one network of a checkpoint's state dict.

    See :func:`checkpoint_layout` for the layouts read. In a ``'cmd'``
    checkpoint the teacher's parts are ``teacher.<part>.*`` and the
    student's ``<part>.*``; a ``'model'`` checkpoint has the student only; a
    ``'backbone'`` checkpoint gives its keys to the backbone whatever
    ``network`` says.

    Args:
        state_dict (Mapping[str, Tensor]): The checkpoint's state dict.
        network (str): ``'teacher'`` or ``'student'``.
        parts (Sequence[str]): Sub-modules to select, e.g.
            ``('backbone', 'neck')``.
        config_key (str): The config key that sets ``network``, named in
            errors. Defaults to ``'network'``.

    Returns:
        tuple[dict[str, Tensor], str]: The selected weights with keys
        ``<part>.<name>``, and a description of where they came from (for
        error messages).

    Raises:
        CheckpointMismatchError: The checkpoint has no weights of the
            requested network.
    """
    check_network(network, config_key)
    layout = checkpoint_layout(state_dict)
    if layout == 'backbone':
        return ({f'backbone.{k}': v for k, v in state_dict.items()},
                "a checkpoint without 'backbone.*' or 'teacher.backbone.*' "
                'keys, read as backbone-only')
    if network == 'teacher' and layout != 'cmd':
        raise CheckpointMismatchError(
            f"{config_key}='teacher', but the checkpoint has no "
            "'teacher.backbone.*' keys (its top-level names are "
            f'{sorted({k.split(".")[0] for k in state_dict})}). Set '
            f"{config_key}='student'.")
    prefix = 'teacher.' if network == 'teacher' else ''
    selected = {
        k[len(prefix):]: v
        for k, v in state_dict.items()
        if any(k.startswith(f'{prefix}{part}.') for part in parts)
    }
    where = ', '.join(f"'{prefix}{part}.*'" for part in parts)
    return selected, f'the {network} weights {where}'


def check_weights(module: nn.Module, weights: Mapping[str, torch.Tensor],
                  source: str, hint: str) -> StateDict:
    """Check that ``weights`` fit ``module`` exactly: keys and shapes.

    Args:
        module (nn.Module): The module the weights are for.
        weights (Mapping[str, Tensor]): Its state dict from a checkpoint.
        source (str): Where the weights come from, for the error message.
        hint (str): Which config keys to change, for the error message.

    Returns:
        dict[str, Tensor]: ``weights`` in the module's key order, missing
        ``num_batches_tracked`` buffers filled with 0.

    Raises:
        CheckpointMismatchError: Missing or unexpected keys, or differing
            shapes; the message names the first ones, ``source`` and
            ``hint``.
    """
    try:
        return match_reference(dict(weights), module.state_dict())
    except ValueError as err:
        raise CheckpointMismatchError(
            f'{type(module).__name__} cannot load {source}: {err} {hint}'
        ) from err



def backbone_checkpoint(checkpoint: Mapping,
                        network: str,
                        source: str,
                        config_key: str = 'network') -> dict:
    """One network's backbone of a checkpoint, as a checkpoint of its own.

    The layout of ``tools/convert_pretrained.py``: the backbone's own keys
    (no ``backbone.`` prefix), loadable with
    ``init_cfg=dict(type='CMDPretrained', checkpoint=...)``, a backbone's
    ``init_cfg=dict(type='Pretrained', ...)`` or as the checkpoint of a
    ``CMDFeatureExtractor`` config.

    Args:
        checkpoint (Mapping): A loaded mmengine checkpoint (or a bare state
            dict) of a CMD model (or another model with ``backbone.*``
            keys, read as the student).
        network (str): ``'teacher'`` or ``'student'``.
        source (str): Name of the source file, kept in ``meta``.
        config_key (str): What sets ``network``, named in errors. Defaults
            to ``'network'``.

    Returns:
        dict: ``{'state_dict': backbone weights, 'meta': provenance}``; the
        meta has the source's ``epoch`` and ``iter`` when it has them.

    Raises:
        ValueError: The checkpoint has neither ``backbone.*`` nor
            ``teacher.backbone.*`` keys.
        CheckpointMismatchError: It has no weights of ``network``.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    if checkpoint_layout(state_dict) == 'backbone':
        raise ValueError(
            f'{source} has no backbone.* or teacher.backbone.* keys (its '
            f'top-level names are '
            f'{sorted({k.split(".")[0] for k in state_dict})}); it is not '
            'a CMD (or other model) checkpoint.')
    weights, _ = select_network(state_dict, network, ['backbone'],
                                config_key)
    weights = {k[len('backbone.'):]: v for k, v in weights.items()}
    meta = dict(source=source, network=network, key_prefix='',
                converter='tools/extract_backbone.py')
    source_meta = checkpoint.get('meta')
    if isinstance(source_meta, dict):
        meta.update({key: source_meta[key] for key in ('epoch', 'iter')
                     if isinstance(source_meta.get(key), int)})
    return make_checkpoint(weights, meta)
