"""Which teacher region supervises each student region, and how much.

Two matchers: :func:`feature_matching` (the most similar teacher backbone
token, as EsViT) and :func:`geometric_matching` (the teacher region that
contains the student region's centre in the original image).

Boxes are ``(x1, y1, x2, y2)`` in original-image pixels, as
:class:`~cmd_plugin.datasets.transforms.CMDMultiCrop` records them. A crop
that was flipped horizontally shows column ``c`` of its region grid at the
mirrored position of the box.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def feature_matching(teacher_tokens: torch.Tensor,
                     student_tokens: torch.Tensor) -> torch.Tensor:
    """Most similar teacher region (cosine of backbone tokens), as EsViT.

    Args:
        teacher_tokens (Tensor): ``(T, B, M, C)`` teacher region tokens.
        student_tokens (Tensor): ``(S, B, N, C)`` student region tokens.

    Returns:
        Tensor: ``(T, S, B, N)`` long indices into the ``M`` teacher regions.
    """
    t = F.normalize(teacher_tokens.float(), dim=-1)
    s = F.normalize(student_tokens.detach().float(), dim=-1)
    return torch.einsum('tbmc,sbnc->tsbnm', t, s).argmax(dim=-1)


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


def region_match_weights(match_index: torch.Tensor,
                         valid: torch.Tensor,
                         teacher_weights: Optional[torch.Tensor] = None
                         ) -> torch.Tensor:
    """Weights ``w_i`` of the matched student regions.

    ``uniform`` (``teacher_weights=None``): ``1 / #valid``. ``mil``: the
    teacher's MIL weights of the matched regions, renormalised over the
    valid ones; they carry no gradient.

    Args:
        match_index (Tensor): ``(T, S, B, N)`` matched teacher region.
        valid (Tensor): ``(T, S, B, N)`` bool, False for dropped regions.
        teacher_weights (Tensor, optional): ``(T, B, M)`` teacher MIL
            weights.

    Returns:
        Tensor: ``(T, S, B, N)`` fp32, each row summing to 1 (0 if no region
        of the row is valid).
    """
    w = valid.float()
    if teacher_weights is not None:
        num_student = match_index.shape[1]
        per_pair = teacher_weights.detach().float().unsqueeze(1).expand(
            -1, num_student, -1, -1)
        w = w * per_pair.gather(-1, match_index)
    return w / w.sum(-1, keepdim=True).clamp_min(1e-12)
