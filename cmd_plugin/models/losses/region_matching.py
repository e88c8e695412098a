"""Which teacher region supervises each student region, and how much.

The geometric matcher lives in :mod:`cmd_plugin.utils.crop_geometry`.
"""
from typing import Optional

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
