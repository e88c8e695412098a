"""Teacher-student cross-entropies at the image and region levels.

Notation: ``T`` teacher crops (the global crops, which are also student
crops ``0 .. T-1``), ``S`` student crops, ``B`` images, ``M`` / ``N``
regions of a teacher / student crop, ``K`` prototypes. ``H(P, q) =
-sum_k P_k log q_k``. All arithmetic is fp32.

Example:
    >>> t = teacher_probs(torch.randn(2, 4, 16), torch.zeros(1, 16), 0.04)
    >>> s = student_log_probs(torch.randn(6, 4, 16))
    >>> image_distillation_loss(t, s)  # mean over the 2 * 6 - 2 pairs
"""
import torch


def teacher_probs(logits: torch.Tensor, centre: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Centred, sharpened teacher distribution ``softmax((t - c) / tau)``.

    Args:
        logits (Tensor): ``(..., K)`` teacher logits.
        centre (Tensor): ``(1, K)`` running centre of these logits.
        temperature (float): Teacher temperature ``tau_t``.

    Returns:
        Tensor: ``(..., K)`` fp32 probabilities.
    """
    return ((logits.float() - centre.float()) / temperature).softmax(dim=-1)


def student_log_probs(logits: torch.Tensor,
                      temperature: float = 0.1) -> torch.Tensor:
    """Student log-distribution ``log_softmax(s / tau_s)``, fp32, ``(..., K)``."""
    return (logits.float() / temperature).log_softmax(dim=-1)


def cross_view_mask(num_teacher: int, num_student: int, student_offset: int,
                    device=None) -> torch.Tensor:
    """``(T, S)`` bool: True where teacher crop ``t`` and student crop
    ``student_offset + s`` are different views (a crop is never its own
    target)."""
    t = torch.arange(num_teacher, device=device)[:, None]
    s = torch.arange(num_student, device=device)[None, :] + student_offset
    return t != s


def cross_view_pairs(num_teacher: int, num_student: int,
                     student_offset: int = 0) -> int:
    """How many entries of :func:`cross_view_mask` are True (no host sync)."""
    same = max(0, min(num_teacher, student_offset + num_student) -
               max(0, student_offset))
    return num_teacher * num_student - same


def pairwise_cross_entropy(teacher: torch.Tensor,
                           student_log: torch.Tensor) -> torch.Tensor:
    """Mean over images of ``H(teacher_t, student_s)`` for every pair.

    Args:
        teacher (Tensor): ``(T, B, K)`` probabilities.
        student_log (Tensor): ``(S, B, K)`` log-probabilities.

    Returns:
        Tensor: ``(T, S)``.
    """
    return -torch.einsum('tbk,sbk->ts', teacher,
                         student_log) / teacher.shape[1]


def image_distillation_loss(teacher: torch.Tensor,
                            student_log: torch.Tensor) -> torch.Tensor:
    """``mean_{t, s != t} H(P_T(x_t), p_S(x_s))``: DINO's loss.

    Args:
        teacher (Tensor): ``(T, B, K)`` teacher probabilities.
        student_log (Tensor): ``(S, B, K)`` student log-probabilities of all
            student crops, the teacher's crops first.

    Returns:
        Tensor: scalar; a zero that keeps the graph when there is no pair of
        different views (one teacher crop, one student crop).
    """
    ce = pairwise_cross_entropy(teacher, student_log)
    pairs = cross_view_pairs(ce.shape[0], ce.shape[1])
    if pairs == 0:
        return 0 * ce.sum()  # nothing to distil, and never NaN
    # the mean over the masked pairs without boolean indexing, whose
    # data-dependent size would make the host wait for the device
    mask = cross_view_mask(ce.shape[0], ce.shape[1], 0, ce.device)
    return torch.where(mask, ce, 0).sum() / pairs


def mil_pool_probs(probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Bag distribution ``sum_i a_i Q_i``.

    Args:
        probs (Tensor): ``(T, B, M, K)`` region probabilities.
        weights (Tensor): ``(T, B, M)`` MIL weights, rows summing to 1.

    Returns:
        Tensor: ``(T, B, K)``.
    """
    return torch.einsum('tbm,tbmk->tbk', weights.float(), probs)


def mil_pool_log_probs(log_probs: torch.Tensor,
                       weights: torch.Tensor) -> torch.Tensor:
    """Log of the bag distribution ``log sum_i a_i q_i``, computed stably.

    Args:
        log_probs (Tensor): ``(S, B, N, K)`` region log-probabilities.
        weights (Tensor): ``(S, B, N)`` MIL weights, rows summing to 1.

    Returns:
        Tensor: ``(S, B, K)``; differentiable in both inputs.
    """
    log_w = weights.float().clamp_min(1e-12).log().unsqueeze(-1)
    return torch.logsumexp(log_w + log_probs, dim=2)


def region_distillation_terms(teacher: torch.Tensor,
                              student_log: torch.Tensor,
                              match_index: torch.Tensor,
                              match_weight: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i H(Q_T,m(i)(x_t), q_S,i(x_s))`` for every crop pair.

    The cross-entropies of all teacher-student region pairs are one
    ``einsum``; the matched ones are then gathered, so no ``(T, S, B, N, K)``
    tensor of matched targets is ever built.

    Args:
        teacher (Tensor): ``(T, B, M, K)`` teacher region probabilities.
        student_log (Tensor): ``(S, B, N, K)`` student region
            log-probabilities.
        match_index (Tensor): ``(T, S, B, N)`` long, the teacher region
            matched to each student region.
        match_weight (Tensor): ``(T, S, B, N)`` weights ``w_i`` (rows sum to
            1, or to 0 where nothing matched).

    Returns:
        Tensor: ``(T, S, B)`` per-pair, per-image losses.
    """
    ce = -torch.einsum('tbmk,sbnk->tsbnm', teacher, student_log)
    matched = ce.gather(-1, match_index.unsqueeze(-1)).squeeze(-1)
    return (matched * match_weight.float()).sum(-1)


def inter_level_loss(teacher_image: torch.Tensor, teacher_bag: torch.Tensor,
                     student_image_log: torch.Tensor,
                     student_bag_log: torch.Tensor) -> torch.Tensor:
    """``mean_{t, s != t} 1/2 [H(P_T, qbar_S) + H(Qbar_T, p_S)]``.

    The teacher's image level supervises the student's MIL-pooled region
    level and the teacher's MIL-pooled region level supervises the
    student's image level.

    Args:
        teacher_image (Tensor): ``(T, B, K)`` teacher image probabilities.
        teacher_bag (Tensor): ``(T, B, K)`` teacher bag probabilities.
        student_image_log (Tensor): ``(S, B, K)`` student image
            log-probabilities.
        student_bag_log (Tensor): ``(S, B, K)`` student bag
            log-probabilities.

    Returns:
        Tensor: scalar.
    """
    return 0.5 * (image_distillation_loss(teacher_image, student_bag_log) +
                  image_distillation_loss(teacher_bag, student_image_log))
