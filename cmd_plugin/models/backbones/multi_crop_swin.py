"""Swin Transformer that keeps its ImageNet behaviour under multi-crop."""
from copy import deepcopy
from typing import List, Optional, Sequence, Tuple

from mmpretrain.models.backbones import SwinTransformer
from mmpretrain.models.utils import to_2tuple
from mmpretrain.registry import MODELS


def stage_windows(img_size, patch_size,
                  windows: Sequence[int]) -> List[Tuple[int, bool]]:
    """Window size and shift of every stage, decided at ``img_size``.

    The rule of the original Swin Transformer (and of EsViT, whose Swin the
    official CMD code uses): a stage whose feature map at the build
    resolution is no larger than its window does not shift its windows, and
    the window shrinks to the map. For Swin-T at 224 px (maps 56, 28, 14, 7)
    with window 7 only the last stage stops shifting; with window 14 the
    third stage stops shifting and the last one uses 7x7 windows.

    Args:
        img_size (int | tuple[int, int]): The build (global crop) size.
        patch_size (int | tuple[int, int]): Patch size of the embedding.
        windows (Sequence[int]): The configured window size of each stage;
            each stage after the first halves the map.

    Returns:
        list[tuple[int, bool]]: Per stage ``(window, shifts)``.
    """
    height, width = to_2tuple(img_size)
    patch_h, patch_w = to_2tuple(patch_size)
    side = min(height // patch_h, width // patch_w)
    result = []
    for window in windows:
        result.append((side, False) if side <= window else (window, True))
        side = (side + 1) // 2  # patch merging pads an odd map
    return result


@MODELS.register_module()
class MultiCropSwinTransformer(SwinTransformer):
    """mmpretrain's ``SwinTransformer`` for global and local crops.

    mmpretrain's Swin decides per input whether a stage shifts its windows.
    Local crops (96 px: maps 24, 12, 6, 3) are smaller than a 7x7 window in
    the last two stages, which needs ``pad_small_map=True``; but then the
    7x7 last stage of a 224-px crop keeps its shifted window, unlike the
    original Swin that ImageNet weights were trained with (about 10 % of
    the output changes). This backbone decides window sizes and shifts once,
    at ``img_size``, as the original Swin and EsViT do
    (:func:`stage_windows`), and pads smaller maps to the window, as EsViT
    does for its local crops:

    * at ``img_size`` it computes exactly what ``SwinTransformer`` with
      ``pad_small_map=False`` computes with the same weights;
    * smaller crops run, each stage with the window and shift chosen at
      ``img_size``.

    The state dict has the keys and shapes of a ``SwinTransformer`` whose
    ``stage_cfgs`` give each stage that window (for window 14 at 224 px the
    last stage's relative position tables have 13x13 rows, as EsViT's), so
    checkpoints load either way.

    Args:
        arch (str | dict): As ``SwinTransformer``'s. Defaults to 'tiny'.
        img_size (int | tuple[int, int]): The global crop size, at which
            window sizes and shifts are decided. Defaults to 224.
        patch_size (int | tuple[int, int]): Defaults to 4.
        window_size (int): Window size of the stages whose maps are larger.
            Defaults to 7.
        stage_cfgs (dict | Sequence[dict]): As ``SwinTransformer``'s; a
            stage's ``window_size`` given here replaces ``window_size`` for
            that stage (and is shrunk the same way).
        pad_small_map (bool): Must be True (smaller crops are padded).
        layer_norm_eps (float, optional): ``eps`` of every LayerNorm (patch
            embedding, blocks, patch merging, output norms); EsViT's Swin
            uses 1e-6. Defaults to None: mmpretrain's (1e-5).
        **kwargs: Other ``SwinTransformer`` arguments.
    """

    def __init__(self,
                 arch='tiny',
                 img_size=224,
                 patch_size=4,
                 window_size: int = 7,
                 stage_cfgs=dict(),
                 pad_small_map: bool = True,
                 layer_norm_eps: Optional[float] = None,
                 **kwargs) -> None:
        if pad_small_map is not True:
            raise ValueError(
                'MultiCropSwinTransformer.pad_small_map: must be True (it '
                'pads crops smaller than img_size); at img_size the output '
                "equals SwinTransformer's with pad_small_map=False.")
        if isinstance(arch, str):
            num_stages = len(self.arch_zoo[arch.lower()]['depths'])
        else:
            num_stages = len(arch['depths'])
        if isinstance(stage_cfgs, Sequence):
            stage_cfgs = [deepcopy(dict(cfg)) for cfg in stage_cfgs]
        else:
            stage_cfgs = [deepcopy(dict(stage_cfgs))
                          for _ in range(num_stages)]
        windows = stage_windows(
            img_size, patch_size,
            [cfg.get('window_size', window_size) for cfg in stage_cfgs])
        for cfg, (window, _) in zip(stage_cfgs, windows):
            cfg['window_size'] = window
        if layer_norm_eps is not None:
            ln = dict(type='LN', eps=layer_norm_eps)
            kwargs['norm_cfg'] = dict(ln)
            kwargs['patch_cfg'] = dict(kwargs.get('patch_cfg', {}),
                                       norm_cfg=dict(ln))
            for cfg in stage_cfgs:
                cfg['block_cfgs'] = dict(cfg.get('block_cfgs', {}),
                                         norm_cfg=dict(ln))
                cfg['downsample_cfg'] = dict(cfg.get('downsample_cfg', {}),
                                             norm_cfg=dict(ln))
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            window_size=window_size,
            stage_cfgs=stage_cfgs,
            pad_small_map=True,
            **kwargs)
        #: build size, also what the backbone probe runs at
        self.img_size = img_size
        #: ``(window, shifts)`` of each stage
        self.stage_windows = windows
        for stage, (_, shifts) in zip(self.stages, windows):
            if not shifts:
                for block in stage.blocks:
                    block.attn.shift_size = 0
