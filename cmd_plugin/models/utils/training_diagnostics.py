"""Training-health signals of self-distillation (logged under ``diag/``).

The quantities practitioners watch to tell learning from collapse: how
peaked the teacher's targets are (entropy; ``0`` is a one-hot collapse,
``ln K`` a uniform one), how far the student is from them (the KL part of a
cross-entropy), how many regions the MIL weights really use and how many
prototypes the teacher uses. Pure functions of tensors, all without
gradient.
"""
from typing import Iterable

import torch
from torch import nn


@torch.no_grad()
def entropy(probs: torch.Tensor) -> torch.Tensor:
    """``H(P) = -sum_k P_k log P_k`` in nats.

    Args:
        probs (Tensor): ``(..., K)`` probabilities.

    Returns:
        Tensor: ``(...)``; 0 for a one-hot row, ``ln K`` for a uniform one.
    """
    probs = probs.float()
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)


@torch.no_grad()
def entropy_of_log(log_probs: torch.Tensor) -> torch.Tensor:
    """:func:`entropy` of ``exp(log_probs)``, ``(..., K) -> (...)``."""
    log_probs = log_probs.float()
    return -(log_probs.exp() * log_probs).sum(-1)


@torch.no_grad()
def matched_entropy(teacher_entropy: torch.Tensor, match_index: torch.Tensor,
                    match_weight: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i H(Q_T,m(i))``: the teacher-entropy part of the region term.

    Args:
        teacher_entropy (Tensor): ``(T, B, M)`` entropy of every teacher
            region distribution.
        match_index (Tensor): ``(T, S, B, N)`` matched teacher region.
        match_weight (Tensor): ``(T, S, B, N)`` weights ``w_i``.

    Returns:
        Tensor: ``(T, S, B)``, to subtract from the region cross-entropies.
    """
    t, s, b, _ = match_index.shape
    per_region = teacher_entropy.unsqueeze(1).expand(t, s, b, -1)
    matched = per_region.gather(-1, match_index)
    return (matched * match_weight.float()).sum(-1)


@torch.no_grad()
def effective_regions(weights: torch.Tensor) -> torch.Tensor:
    """``exp(H(a))``, the number of regions the MIL weights use.

    Args:
        weights (Tensor): ``(..., N)`` MIL weights, rows summing to 1.

    Returns:
        Tensor: ``(...)``; ``N`` for uniform weights, 1 for one-hot ones.
    """
    return entropy(weights).exp()


@torch.no_grad()
def prototype_usage(probs: torch.Tensor) -> torch.Tensor:
    """Fraction of the ``K`` prototypes that are the argmax of some row.

    Args:
        probs (Tensor): ``(..., K)`` teacher probabilities.

    Returns:
        Tensor: scalar in ``[1 / K, min(rows, K) / K]``.
    """
    winners = probs.reshape(-1, probs.shape[-1]).argmax(-1)
    # a scatter rather than unique(): no data-dependent size, no host sync
    used = probs.new_zeros(probs.shape[-1], dtype=torch.float32)
    used.index_fill_(0, winners, 1.0)
    return used.mean()


@torch.no_grad()
def relative_distance(teacher: Iterable[torch.Tensor],
                      student: Iterable[torch.Tensor]) -> torch.Tensor:
    """``||theta_T - theta_S|| / ||theta_S||`` over paired parameter lists.

    Args:
        teacher (Iterable[Tensor]): Teacher parameters.
        student (Iterable[Tensor]): Student parameters, in the same order.

    Returns:
        Tensor: scalar; 0 when the two networks are equal.
    """
    diff, norm = [], []
    for t, s in zip(teacher, student):
        diff.append((t.float() - s.float()).square().sum())
        norm.append(s.float().square().sum())
    return torch.stack(diff).sum().sqrt() / torch.stack(norm).sum().sqrt(
    ).clamp_min(1e-12)


def module_distance(teacher: nn.Module, student: nn.Module) -> torch.Tensor:
    """:func:`relative_distance` of two modules of the same architecture."""
    return relative_distance(teacher.parameters(), student.parameters())
