"""How much of a spatial weight map falls inside known boxes."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2 / y2 exclusive


def box_masks(boxes: Sequence[Sequence[Box]], height: int,
              width: int) -> torch.Tensor:
    """Per image, the union of its boxes as a pixel mask.

    Args:
        boxes (Sequence[Sequence[Box]]): Per image, its boxes.
        height (int): Image height in pixels.
        width (int): Image width in pixels.

    Returns:
        Tensor: ``(B, height, width)`` bool.
    """
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for mask, image_boxes in zip(masks, boxes):
        for x1, y1, x2, y2 in image_boxes:
            mask[max(y1, 0):y2, max(x1, 0):x2] = True
    return masks


def mass_in_masks(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's mass inside its mask.

    Each cell's weight is spread evenly over the pixels it covers (the
    ``(h, w)`` map is stretched to the mask's size, nearest cell), so a
    uniform map scores the mask's share of the image area whatever its
    grid, and a map scores 1 only if all its mass sits in cells that lie
    wholly inside the mask.

    Args:
        maps (Tensor): ``(B, h, w)`` non-negative weights (any scale; each
            map is normalised). ``h`` and ``w`` must divide the mask's
            height and width.
        masks (Tensor): ``(B, H, W)`` bool.

    Returns:
        Tensor: ``(B,)`` shares in ``[0, 1]``.
    """
    if maps.dim() != 3 or masks.dim() != 3 or maps.shape[0] != masks.shape[0]:
        raise ValueError(f'maps (B, h, w) and masks (B, H, W) must agree, '
                         f'got {tuple(maps.shape)} and {tuple(masks.shape)}.')
    height, width = masks.shape[1:]
    if height % maps.shape[1] or width % maps.shape[2]:
        raise ValueError(f'a {maps.shape[1]}x{maps.shape[2]} map does not '
                         f'tile a {height}x{width} mask evenly.')
    pixels = F.interpolate(maps[:, None].float(), size=(height, width),
                           mode='nearest')[:, 0]
    pixels = pixels / pixels.sum(dim=(1, 2), keepdim=True)
    return (pixels * masks).sum(dim=(1, 2))
