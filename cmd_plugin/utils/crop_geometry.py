"""Where the regions of one crop fall inside another crop of the same image.

Boxes are ``(x1, y1, x2, y2)`` in original-image pixels, as
:class:`CMDMultiCrop` records them. A crop that was flipped horizontally
shows column ``c`` of its region grid at the mirrored position of the box.
"""
from typing import Tuple

import torch


def region_centres(boxes: torch.Tensor, flips: torch.Tensor,
                   grid: Tuple[int, int]) -> torch.Tensor:
    """Image coordinates of the centre of every region of every crop.

    Args:
        boxes (Tensor): Crop boxes, ``(S, B, 4)``.
        flips (Tensor): Horizontal-flip flags, ``(S, B)``, bool.
        grid (tuple[int, int]): Region grid ``(h, w)`` of these crops.

    Returns:
        Tensor: ``(S, B, h * w, 2)`` ``(x, y)`` centres, row-major regions.
    """
    h, w = grid
    ys = (torch.arange(h, dtype=boxes.dtype, device=boxes.device) + 0.5) / h
    xs = (torch.arange(w, dtype=boxes.dtype, device=boxes.device) + 0.5) / w
    v, u = torch.meshgrid(ys, xs, indexing='ij')
    u, v = u.reshape(1, 1, -1), v.reshape(1, 1, -1)
    u = torch.where(flips.unsqueeze(-1), 1 - u, u)
    x1, y1, x2, y2 = boxes.unbind(-1)
    x = x1.unsqueeze(-1) + u * (x2 - x1).unsqueeze(-1)
    y = y1.unsqueeze(-1) + v * (y2 - y1).unsqueeze(-1)
    return torch.stack([x, y], dim=-1)


def geometric_matching(
    teacher_boxes: torch.Tensor,
    teacher_flips: torch.Tensor,
    teacher_grid: Tuple[int, int],
    student_boxes: torch.Tensor,
    student_flips: torch.Tensor,
    student_grid: Tuple[int, int],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Teacher region whose area contains each student region's centre.

    Args:
        teacher_boxes (Tensor): ``(T, B, 4)`` boxes of the teacher crops.
        teacher_flips (Tensor): ``(T, B)`` flip flags of the teacher crops.
        teacher_grid (tuple[int, int]): Teacher region grid ``(h_t, w_t)``.
        student_boxes (Tensor): ``(S, B, 4)`` boxes of the student crops.
        student_flips (Tensor): ``(S, B)`` flip flags of the student crops.
        student_grid (tuple[int, int]): Student region grid ``(h_s, w_s)``.

    Returns:
        tuple[Tensor, Tensor]: ``index`` ``(T, S, B, N_s)`` (long, row-major
        teacher region, 0 where outside) and ``inside`` ``(T, S, B, N_s)``
        (bool, False for student regions whose centre lies outside the
        teacher crop: those are dropped from the region loss).
    """
    centres = region_centres(student_boxes, student_flips, student_grid)
    x = centres[..., 0].unsqueeze(0)  # (1, S, B, N_s)
    y = centres[..., 1].unsqueeze(0)
    tx1, ty1, tx2, ty2 = (c[:, None, :, None] for c in teacher_boxes.unbind(-1))
    u = (x - tx1) / (tx2 - tx1)
    v = (y - ty1) / (ty2 - ty1)
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    u = torch.where(teacher_flips[:, None, :, None], 1 - u, u)
    h, w = teacher_grid
    col = (u * w).floor().clamp(0, w - 1).long()
    row = (v * h).floor().clamp(0, h - 1).long()
    index = torch.where(inside, row * w + col, torch.zeros_like(col))
    return index, inside
