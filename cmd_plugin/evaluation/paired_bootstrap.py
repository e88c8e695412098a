"""Paired comparison of two methods on the same evaluation images."""
from typing import Tuple

import torch


def paired_bootstrap(hits_a: torch.Tensor, hits_b: torch.Tensor,
                     num_resamples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> Tuple[float, float, float]:
    """Mean difference ``a - b`` in percent and its bootstrap interval.

    Both methods are scored on the same ``N`` images, once per seed (seed
    ``s`` of ``a`` paired with seed ``s`` of ``b``). The statistic is the
    difference of the accuracies averaged over the seeds; the interval
    resamples the *images* with replacement (the same resample for every
    seed and both methods, so the pairing is kept) and takes the central
    ``level`` quantiles of the statistic: it measures how much the
    difference depends on which test images were drawn, not the seed spread.

    Args:
        hits_a (Tensor): ``(S, N)`` bool or 0/1, method ``a`` correct on
            image ``n`` in seed ``s``.
        hits_b (Tensor): ``(S, N)``, the same for method ``b``.
        num_resamples (int): Bootstrap resamples. Defaults to 2000.
        level (float): Coverage of the interval. Defaults to 0.95.
        seed (int): Seed of the resampling. Defaults to 0.

    Returns:
        tuple[float, float, float]: difference, lower and upper bound, in
        percentage points.
    """
    if hits_a.shape != hits_b.shape or hits_a.dim() != 2:
        raise ValueError(f'paired_bootstrap: expected two (seeds, images) '
                         f'tensors of the same shape, got '
                         f'{tuple(hits_a.shape)} and {tuple(hits_b.shape)}.')
    per_image = (hits_a.double() - hits_b.double()).mean(0)  # (N,)
    generator = torch.Generator().manual_seed(seed)
    n = per_image.shape[0]
    index = torch.randint(0, n, (num_resamples, n), generator=generator)
    stats = per_image[index].mean(1)
    tail = (1 - level) / 2
    low, high = torch.quantile(stats, torch.tensor([tail, 1 - tail],
                                                   dtype=stats.dtype))
    return (100 * per_image.mean().item(), 100 * low.item(),
            100 * high.item())
