"""Gated-attention multiple-instance pooling over the regions of a crop."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmpretrain.registry import MODELS
from ...structures import MILOutput
from ...utils.validation import check_choice, check_int

EMBEDDINGS = ('cls', 'bag', 'cls+bag')
ATTENTIONS = ('gated', 'none')


@MODELS.register_module()
class MILNeck(BaseModule):
    """Treats a crop as a bag of region instances and learns their weights.

    The regions are what the backbone returns last: ViT / DeiT patch tokens
    (``out_type='raw'``, optionally average-pooled ``region_pool`` x
    ``region_pool`` on the patch grid) or the last feature map of Swin,
    ResNet, EfficientNet, ... flattened to ``N = H * W`` instances. The
    instance weights come from gated attention (Ilse et al., ICML 2018)::

        a_i = softmax_i( w^T (tanh(V z_i) * sigmoid(U z_i)) )

    Args:
        in_channels (int): Channels ``C`` of the backbone's tokens / map.
        attention (str): ``'gated'`` learns the weights; ``'none'`` uses
            uniform weights ``1 / N`` and has no parameters (the DINO
            baseline). Defaults to ``'gated'``.
        attn_channels (int): Hidden width of the gated attention.
            Defaults to 128.
        embedding (str): Image embedding handed to the image head: ``'cls'``
            (the class token; backbones without one must use another
            choice), ``'bag'`` or ``'cls+bag'`` (their sum, so that the image
            and region heads keep one input width). Defaults to ``'cls'``.
        num_prefix_tokens (int): Leading non-patch tokens of a token
            sequence (1 for ViT's class token). Only for 3-D inputs.
            Defaults to 1.
        region_pool (int): Average-pool the ViT patch grid with this window
            and stride before treating cells as regions (2 turns 14x14
            patches of a 224 crop into 7x7 regions). Feature maps (4-D
            inputs) are used as they are. Defaults to 2.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 attention: str = 'gated',
                 attn_channels: int = 128,
                 embedding: str = 'cls',
                 num_prefix_tokens: int = 1,
                 region_pool: int = 2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_choice('MILNeck', 'attention', attention, ATTENTIONS)
        check_choice('MILNeck', 'embedding', embedding, EMBEDDINGS)
        for name, value in (('in_channels', in_channels),
                            ('attn_channels', attn_channels),
                            ('region_pool', region_pool)):
            check_int('MILNeck', name, value, 1)
        check_int('MILNeck', 'num_prefix_tokens', num_prefix_tokens, 0)
        self.in_channels = in_channels
        self.attention = attention
        self.embedding = embedding
        self.num_prefix_tokens = num_prefix_tokens
        self.region_pool = region_pool
        if attention == 'gated':
            self.attn_tanh = nn.Linear(in_channels, attn_channels)
            self.attn_sigmoid = nn.Linear(in_channels, attn_channels)
            self.attn_score = nn.Linear(attn_channels, 1)

    def split_tokens(
        self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[Optional[torch.Tensor], torch.Tensor, Tuple[int, int]]:
        """Turn a backbone output into ``(cls, regions, grid)``.

        Args:
            feats: The backbone's output: a tuple whose last element is
                ``(B, P + N, C)`` tokens or a ``(B, C, H, W)`` map, or that
                tensor itself.

        Returns:
            tuple: ``cls`` ``(B, C)`` or None, ``regions`` ``(B, N, C)`` and
            the region grid ``(h, w)``.
        """
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if x.dim() == 4:
            cls = None
            grid_map = x
        elif x.dim() == 3:
            num_patches = x.shape[1] - self.num_prefix_tokens
            side = math.isqrt(max(num_patches, 0))
            if num_patches < 1 or side * side != num_patches:
                raise ValueError(
                    f'MILNeck got {x.shape[1]} tokens, which with '
                    f'num_prefix_tokens={self.num_prefix_tokens} is no square '
                    'patch grid. Set model.neck.num_prefix_tokens to the '
                    'number of class/register tokens of the backbone.')
            cls = x[:, 0] if self.num_prefix_tokens > 0 else None
            patches = x[:, self.num_prefix_tokens:]
            grid_map = patches.transpose(1, 2).reshape(
                x.shape[0], x.shape[2], side, side)
            if self.region_pool > 1:
                pooled = (math.ceil(side / self.region_pool), ) * 2
                grid_map = F.adaptive_avg_pool2d(grid_map, pooled)
        else:
            raise ValueError(
                'MILNeck needs patch tokens (B, 1 + N, C) or a feature map '
                f'(B, C, H, W) from the backbone, got shape {tuple(x.shape)}. '
                "For a VisionTransformer set model.backbone.out_type='raw'.")
        if grid_map.shape[1] != self.in_channels:
            raise ValueError(
                f'MILNeck expects {self.in_channels} channels '
                f'(model.neck.in_channels) but the backbone gives '
                f'{grid_map.shape[1]}.')
        grid = (grid_map.shape[2], grid_map.shape[3])
        regions = grid_map.flatten(2).transpose(1, 2)
        return cls, regions, grid

    def instance_weights(self, regions: torch.Tensor) -> torch.Tensor:
        """Softmax-normalised instance weights ``(B, N)`` of ``(B, N, C)``."""
        if self.attention == 'none':
            return regions.new_full(regions.shape[:2], 1.0 / regions.shape[1])
        gate = torch.tanh(self.attn_tanh(regions)) * torch.sigmoid(
            self.attn_sigmoid(regions))
        scores = self.attn_score(gate).squeeze(-1)
        return scores.float().softmax(dim=-1).to(regions.dtype)

    def forward(
            self, feats: Union[torch.Tensor,
                               Sequence[torch.Tensor]]) -> MILOutput:
        """Pool the regions of a batch of crops.

        Args:
            feats: The backbone output, see :meth:`split_tokens`.

        Returns:
            MILOutput: weights ``(B, N)``, bag ``(B, C)``, image ``(B, C)``,
            regions ``(B, N, C)``.
        """
        cls, regions, grid = self.split_tokens(feats)
        weights = self.instance_weights(regions)
        bag = torch.einsum('bn,bnc->bc', weights, regions)
        if self.embedding != 'bag' and cls is None:
            raise ValueError(
                f"MILNeck: embedding={self.embedding!r} needs a class token "
                'but the backbone returns none. Set '
                "model.neck.embedding='bag' for this backbone.")
        image = {'cls': cls, 'bag': bag}.get(self.embedding)
        if image is None:
            image = cls + bag
        return MILOutput(
            regions=regions,
            weights=weights,
            bag=bag,
            image=image,
            grid=grid,
            cls=cls)
