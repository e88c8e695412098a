"""Linear-probe features of a ViT as in DINO's evaluation."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS
from ...utils.validation import check_bool, check_int


@MODELS.register_module()
class TokenConcatNeck(BaseModule):
    """Concatenate the class tokens of the last blocks (+ average patch).

    For a linear probe on a frozen ViT (``out_type='raw'``,
    ``out_indices`` = the last ``num_blocks`` blocks): the class token of
    each block, and with ``avg_patch=True`` also the average patch token of
    the last block, concatenated. DINO's ViT-S protocol uses 4 blocks without
    the average, its ViT-B protocol the last block with it. mmpretrain only
    normalises the last block's output, so every token gets a
    parameter-free layer norm here (the linear head learns the scale).

    Args:
        num_blocks (int): How many of the backbone's outputs (its last
            ``out_indices``) to use. Defaults to 1.
        avg_patch (bool): Append the last block's average patch token.
            Defaults to False.
        num_prefix_tokens (int): Leading non-patch tokens. Defaults to 1.
    """

    def __init__(self,
                 num_blocks: int = 1,
                 avg_patch: bool = False,
                 num_prefix_tokens: int = 1) -> None:
        super().__init__()
        check_int('TokenConcatNeck', 'num_blocks', num_blocks, 1)
        check_bool('TokenConcatNeck', 'avg_patch', avg_patch)
        check_int('TokenConcatNeck', 'num_prefix_tokens', num_prefix_tokens, 1)
        self.num_blocks = num_blocks
        self.avg_patch = avg_patch
        self.num_prefix_tokens = num_prefix_tokens

    def forward(self, feats: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        """``(B, C * (num_blocks + avg_patch))`` features of raw tokens.

        Args:
            feats (Sequence[Tensor]): The backbone's ``(B, 1 + N, C)`` token
                outputs, one per ``out_indices`` entry.

        Returns:
            tuple[Tensor]: One ``(B, D)`` tensor.
        """
        if len(feats) < self.num_blocks or feats[-1].dim() != 3:
            raise ValueError(
                f'TokenConcatNeck needs the raw tokens of the last '
                f'{self.num_blocks} blocks; set model.backbone.out_type='
                "'raw' and model.backbone.out_indices to the last "
                f'{self.num_blocks} block indices (got {len(feats)} outputs).')
        blocks = [
            F.layer_norm(x, x.shape[-1:]) for x in feats[-self.num_blocks:]
        ]
        parts = [x[:, 0] for x in blocks]
        if self.avg_patch:
            parts.append(blocks[-1][:, self.num_prefix_tokens:].mean(1))
        return (torch.cat(parts, dim=-1), )
