"""Plain-loop reference values of the evaluation metrics, for end-to-end tests.

Written from the definitions (docs/design.md, "Evaluation"), apart from
``cmd_plugin.evaluation``: cosine similarity, leave-one-out retrieval,
the official CMD protocol's first query, and DINO's weighted k-NN. Values
are percentages, as the metrics log them.
"""
import math
from typing import Dict, List, Sequence

import torch


def collect_features(model, loader) -> tuple:
    """Features, labels and splits of every sample of a test loader.

    Returns:
        tuple: ``feats`` (list of float lists), ``labels`` (ints) and
        ``splits`` (``'train'`` / ``'test'``), in dataset order.
    """
    feats, labels, splits = [], [], []
    with torch.no_grad():
        for data in loader:
            for sample in model.test_step(data):
                feats.append(sample.feature.double().tolist())
                labels.append(int(sample.gt_label))
                splits.append(sample.split)
    return feats, labels, splits


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def ranked_hits(feats, labels, query: int, gallery: List[int]) -> List[bool]:
    """Whether each gallery item, most similar first, has the query's
    label."""
    order = sorted(gallery, key=lambda j: -cosine(feats[query], feats[j]))
    return [labels[j] == labels[query] for j in order]


def average_precision(hits: Sequence[bool]) -> float:
    """``sum_j rel_j * precision@j / sum_j rel_j`` (0 without a hit)."""
    found, total = 0, 0.0
    for rank, hit in enumerate(hits, 1):
        found += hit
        total += hit * found / rank
    return total / max(found, 1)


def expected_metrics(feats, labels, splits, k: int = 20,
                     temperature: float = 0.07) -> Dict[str, float]:
    """The logged keys of leave-one-out and official retrieval (fewer than
    10 test images: test image 0 is the only official query) and k-NN."""
    train = [i for i, s in enumerate(splits) if s == 'train']
    test = [i for i, s in enumerate(splits) if s == 'test']
    assert len(test) < 10, 'the official protocol would have more queries'
    loo = [ranked_hits(feats, labels, q, [j for j in test if j != q])
           for q in test]
    official = ranked_hits(feats, labels, test[0], train + test[1:])
    right = 0
    for q in test:
        nearest = sorted(train, key=lambda j: -cosine(feats[q], feats[j]))
        votes = {}
        for j in nearest[:k]:
            votes[labels[j]] = votes.get(labels[j], 0.0) + math.exp(
                cosine(feats[q], feats[j]) / temperature)
        right += max(votes, key=votes.get) == labels[q]
    n = len(test)
    return {
        'retrieval/loo/rank1': 100 * sum(h[0] for h in loo) / n,
        'retrieval/loo/recall@2': 100 * sum(any(h[:2]) for h in loo) / n,
        'retrieval/loo/recall@8': 100 * sum(any(h[:8]) for h in loo) / n,
        'retrieval/loo/mAP': 100 * sum(map(average_precision, loo)) / n,
        'retrieval/cmd_official/rank1': 100.0 * official[0],
        'retrieval/cmd_official/mAP@100': 100 * average_precision(
            official[:100]),
        'knn/top1': 100 * right / n,
    }
