"""The data types the algorithm, the neck and the head exchange.

:class:`MILOutput` is what :class:`~cmd_plugin.models.necks.MILNeck` returns
for a batch of crops; :class:`~cmd_plugin.models.algorithms.CMD` gathers the
neck's and the projector's outputs of one network and one crop resolution
into a :class:`CropEncoding` and hands those to
:class:`~cmd_plugin.models.heads.CMDHead`'s losses. Plain containers of
tensors, on the lowest floor with ``cmd_plugin.utils``: they import nothing
from the plugin.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch


@dataclass
class MILOutput:
    """What :class:`~cmd_plugin.models.necks.MILNeck` returns for ``B`` crops.

    Attributes:
        regions (Tensor): Region instances, ``(B, N, C)``.
        weights (Tensor): Instance weights, ``(B, N)``, each row sums to 1.
        bag (Tensor): Bag embedding ``sum_i weights_i * regions_i``,
            ``(B, C)``.
        image (Tensor): Image embedding (cls | bag | cls + bag), ``(B, C)``.
        grid (tuple[int, int]): ``(h, w)`` of the region grid, ``N = h * w``,
            row-major.
        cls (Tensor, optional): The backbone's class token, ``(B, C)``, or
            None for backbones without one.
    """
    regions: torch.Tensor
    weights: torch.Tensor
    bag: torch.Tensor
    image: torch.Tensor
    grid: Tuple[int, int]
    cls: Optional[torch.Tensor] = None


@dataclass
class CropEncoding:
    """One network's outputs for ``n`` crops of one resolution, batch ``B``.

    Attributes:
        regions (Tensor): ``(n, B, N, C)`` region tokens.
        weights (Tensor): ``(n, B, N)`` MIL instance weights.
        grid (tuple[int, int]): Region grid ``(h, w)``, ``N = h * w``.
        image_logits (Tensor): ``(n, B, K)``.
        region_logits (Tensor, optional): ``(n, B, N, K)``; None when no
            region-level term is on.
    """
    regions: torch.Tensor
    weights: torch.Tensor
    grid: Tuple[int, int]
    image_logits: torch.Tensor
    region_logits: Optional[torch.Tensor] = None

    @property
    def num_crops(self) -> int:
        return self.image_logits.shape[0]
