"""Retrieval and k-NN functions against hand-computed answers."""
import math

import pytest
import torch

from cmd_plugin.evaluation.functional import (leave_one_out_retrieval,
                                              retrieval_metrics,
                                              weighted_knn_predict)


def on_circle(degrees, scale=1.0):
    """Unit 2-D vectors at the given angles, times ``scale``."""
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return scale * torch.stack([rad.cos(), rad.sin()], dim=1).float()


# Two classes whose members lie far apart, each next to the other class:
# A(0) at 0 deg, B(1) at 10, C(0) at 90, D(1) at 100. Ranked neighbours:
#   A: B C D   (relevant C at rank 2)     B: A C D  (relevant D at rank 3)
#   C: D B A   (relevant A at rank 3)     D: C B A  (relevant B at rank 2)
LOO_FEATURES = on_circle([0, 10, 90, 100])
LOO_LABELS = torch.tensor([0, 1, 0, 1])


def test_leave_one_out_never_matches_the_query_itself():
    scores = leave_one_out_retrieval(LOO_FEATURES, LOO_LABELS, topk=(1, 2, 4))
    # a query allowed to match itself would score Rank-1 = 100 %
    assert scores['rank1'] == 0.0
    assert scores['recall@1'] == 0.0
    assert scores['recall@2'] == 0.5  # A and D
    assert scores['recall@4'] == 1.0
    assert scores['mAP'] == pytest.approx((1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)


def test_map_over_the_top_results_only():
    scores = leave_one_out_retrieval(LOO_FEATURES, LOO_LABELS, map_top=2)
    # B and C find their match at rank 3, outside the top 2
    assert scores['mAP'] == pytest.approx((1 / 2 + 0 + 0 + 1 / 2) / 4)


def test_features_are_compared_by_cosine_similarity():
    # scaling one feature changes dot products but not cosines
    scaled = LOO_FEATURES * torch.tensor([[100.0], [1.0], [0.01], [1.0]])
    assert leave_one_out_retrieval(scaled, LOO_LABELS) == \
        leave_one_out_retrieval(LOO_FEATURES, LOO_LABELS)


def test_query_against_gallery_average_precision():
    query = on_circle([0])
    gallery = on_circle([5, 10, 15, 20, 170])
    gallery_labels = torch.tensor([3, 7, 3, 7, 3])
    scores = retrieval_metrics(
        query, torch.tensor([3]), gallery, gallery_labels, topk=(1, 2))
    # relevance by rank: 1 0 1 0 1 -> AP = (1/1 + 2/3 + 3/5) / 3
    assert scores['rank1'] == 1.0
    assert scores['recall@2'] == 1.0
    assert scores['mAP'] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    top3 = retrieval_metrics(
        query, torch.tensor([3]), gallery, gallery_labels, map_top=3)
    assert top3['mAP'] == pytest.approx((1 + 2 / 3) / 2)


def test_chunking_does_not_change_the_result():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(37, 8, generator=gen)
    labels = torch.randint(0, 4, (37, ), generator=gen)
    whole = leave_one_out_retrieval(feats, labels, map_top=10)
    chunked = leave_one_out_retrieval(feats, labels, map_top=10, chunk_size=5)
    assert chunked == pytest.approx(whole)


def test_query_without_relevant_items_scores_zero():
    scores = retrieval_metrics(
        on_circle([0]), torch.tensor([1]), on_circle([0, 1]),
        torch.tensor([0, 0]))
    assert scores == {
        'rank1': 0.0,
        'recall@1': 0.0,
        'recall@2': 0.0,
        'recall@4': 0.0,
        'recall@8': 0.0,
        'mAP': 0.0
    }


@pytest.mark.parametrize('kwargs, message', [
    (dict(topk=(0, )), 'topk'),
    (dict(map_top=0), 'map_top'),
    (dict(chunk_size=-1), 'chunk_size'),
])
def test_retrieval_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        leave_one_out_retrieval(LOO_FEATURES, LOO_LABELS, **kwargs)


def test_leave_one_out_needs_two_items():
    with pytest.raises(ValueError, match='gallery of 0'):
        leave_one_out_retrieval(LOO_FEATURES[:1], LOO_LABELS[:1])


# Memory: class 0 at 0 deg, class 1 at 30 and 40 deg, class 2 at 180 deg.
# The test feature at 10 deg has cosines 0.985 (class 0), 0.940 and 0.866
# (class 1) with its 3 nearest neighbours.
KNN_TRAIN = on_circle([0, 30, 40, 180])
KNN_LABELS = torch.tensor([0, 1, 1, 2])
KNN_TEST = on_circle([10])


def test_weighted_knn_sharp_temperature_trusts_the_nearest():
    # T = 0.07: exp(0.985/T) > exp(0.940/T) + exp(0.866/T)
    pred = weighted_knn_predict(KNN_TRAIN, KNN_LABELS, KNN_TEST, k=3)
    assert pred.tolist() == [0]


def test_weighted_knn_flat_temperature_counts_votes():
    # T = 1: e^0.985 = 2.68 < e^0.940 + e^0.866 = 4.94
    pred = weighted_knn_predict(
        KNN_TRAIN, KNN_LABELS, KNN_TEST, k=3, temperature=1.0)
    assert pred.tolist() == [1]


def test_weighted_knn_uses_only_k_neighbours():
    test = on_circle([10, 170, 35])
    pred = weighted_knn_predict(KNN_TRAIN, KNN_LABELS, test, k=1)
    assert pred.tolist() == [0, 2, 1]
    # k larger than the memory uses all of it: class 1 has two close votes
    flat = weighted_knn_predict(
        KNN_TRAIN, KNN_LABELS, test, k=50, temperature=10.0)
    assert flat.tolist() == [1, 1, 1]


def test_weighted_knn_small_temperature_does_not_overflow():
    pred = weighted_knn_predict(
        KNN_TRAIN, KNN_LABELS, KNN_TEST, k=3, temperature=1e-4)
    assert pred.tolist() == [0]


def test_weighted_knn_rejects_bad_temperature():
    with pytest.raises(ValueError, match='temperature'):
        weighted_knn_predict(KNN_TRAIN, KNN_LABELS, KNN_TEST, temperature=0)
