"""Linear probe predictions, per-image nearest-neighbour hits, paired test."""
import pytest
import torch

from cmd_plugin.evaluation.functional import (leave_one_out_nearest_hits,
                                              leave_one_out_retrieval)
from cmd_plugin.evaluation.linear_probe import linear_probe_predict
from cmd_plugin.evaluation.paired_bootstrap import paired_bootstrap


def test_linear_probe_separates_separable_features():
    torch.manual_seed(0)
    centres = torch.randn(3, 8) * 5
    y = torch.arange(3).repeat(10)
    x = centres[y] + torch.randn(30, 8) * 0.1
    assert torch.equal(linear_probe_predict(x, y, x, 3), y)


def test_nearest_hits_are_the_per_image_rank1():
    torch.manual_seed(1)
    x = torch.randn(40, 6)
    y = torch.randint(0, 4, (40,))
    hits = leave_one_out_nearest_hits(x, y)
    assert hits.shape == (40,) and hits.dtype == torch.bool
    assert hits.float().mean().item() == pytest.approx(
        leave_one_out_retrieval(x, y)['rank1'])
    # hand case: 0 and 1 are each other's nearest and share a label; 2's
    # nearest other item is 1 (label 0), not its own label 1; 3 points away
    # from all, least away from 2 (cosine -0.89 vs -1.0 and -0.995)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, 0.5], [-1.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert leave_one_out_nearest_hits(x, y).tolist() == [
        True, True, False, True]


def test_paired_bootstrap():
    a = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0]])
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)
    ones, zeros = torch.ones(2, 50), torch.zeros(2, 50)
    assert paired_bootstrap(ones, zeros) == pytest.approx((100, 100, 100))
    # a beats b on 30 of 100 images in both seeds: +30 points, an interval
    # around it that excludes 0
    b = torch.zeros(2, 100)
    a = b.clone()
    a[:, :30] = 1
    diff, low, high = paired_bootstrap(a, b)
    assert diff == pytest.approx(30.0)
    assert 15 < low < 30 < high < 45
    with pytest.raises(ValueError, match='same'):
        paired_bootstrap(torch.ones(2, 3), torch.ones(3, 3))
