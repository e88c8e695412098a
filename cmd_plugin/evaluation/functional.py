"""Retrieval and k-NN evaluation on image features, as pure tensor functions.

All functions L2-normalise the features they receive, so that the dot
product is the cosine similarity, and process the queries in chunks of
``chunk_size`` rows so that the ``(queries, gallery)`` similarity matrix never
has to fit in memory at once.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from ..utils.validation import check_int, check_number


def _check_features(name: str, features: torch.Tensor,
                    labels: torch.Tensor) -> None:
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise ValueError(
            f'{name} features must be (N, C) with labels (N,), got '
            f'{tuple(features.shape)} and {tuple(labels.shape)}.')


def retrieval_metrics(query: torch.Tensor,
                      query_labels: torch.Tensor,
                      gallery: torch.Tensor,
                      gallery_labels: torch.Tensor,
                      topk: Sequence[int] = (1, 2, 4, 8),
                      map_top: Optional[int] = None,
                      self_index: Optional[torch.Tensor] = None,
                      chunk_size: int = 1024) -> Dict[str, float]:
    """Class-level retrieval: rank the gallery by cosine similarity.

    A gallery item is relevant to a query when it has the query's label.
    For each query, with ``rel_j`` = 1 when the j-th ranked item is relevant:

    - Recall@K: 1 if any of the top ``K`` items is relevant (Rank-1 is
      Recall@1).
    - AP: ``sum_j rel_j * precision@j / sum_j rel_j`` over the top
      ``map_top`` ranks (all ranks when None); 0 when none is relevant.
      Over all ranks this is the usual average precision; truncated, it is
      the mAP@100 of the official CMD code.

    Args:
        query (Tensor): Query features, ``(Q, C)``.
        query_labels (Tensor): Query class labels, ``(Q,)``.
        gallery (Tensor): Gallery features, ``(G, C)``.
        gallery_labels (Tensor): Gallery class labels, ``(G,)``.
        topk (Sequence[int]): The ``K`` of each Recall@K.
            Defaults to (1, 2, 4, 8).
        map_top (int, optional): Average precision over the top ``map_top``
            ranks only. Defaults to None (all ranks).
        self_index (Tensor, optional): ``(Q,)`` position of each query in the
            gallery; that item is removed from the query's ranking
            (leave-one-out). Defaults to None.
        chunk_size (int): Queries per similarity chunk. Defaults to 1024.

    Returns:
        dict[str, float]: ``rank1``, ``recall@K`` for each K and ``mAP``, as
        fractions in [0, 1] averaged over the queries.
    """
    _check_features('query', query, query_labels)
    _check_features('gallery', gallery, gallery_labels)
    for k in topk:
        check_int('retrieval_metrics', 'topk', k, 1)
    if map_top is not None:
        check_int('retrieval_metrics', 'map_top', map_top, 1)
    check_int('retrieval_metrics', 'chunk_size', chunk_size, 1)
    if self_index is not None and self_index.shape != query_labels.shape:
        raise ValueError(f'self_index must be (Q,) = '
                         f'{tuple(query_labels.shape)}, got '
                         f'{tuple(self_index.shape)}.')
    num_ranked = gallery.shape[0] - (self_index is not None)
    if query.shape[0] == 0 or num_ranked < 1:
        raise ValueError(f'Retrieval needs at least one query and one gallery '
                         f'item, got {query.shape[0]} queries and a gallery '
                         f'of {num_ranked}.')

    ks = sorted({1, *topk})
    depth = num_ranked if map_top is None else min(num_ranked,
                                                   max(map_top, ks[-1]))
    query = F.normalize(query.float(), dim=1)
    gallery = F.normalize(gallery.float(), dim=1)
    hits = dict.fromkeys(ks, 0.0)
    ap_sum = 0.0
    for start in range(0, query.shape[0], chunk_size):
        stop = start + chunk_size
        sim = query[start:stop] @ gallery.T  # (q, G)
        if self_index is not None:
            rows = torch.arange(sim.shape[0], device=sim.device)
            sim[rows, self_index[start:stop]] = -torch.inf
        # ranked gallery indices, (q, depth); a masked query sits last and
        # falls outside the depth
        ranked = sim.topk(depth, dim=1).indices
        rel = gallery_labels[ranked] == query_labels[start:stop, None]
        for k in ks:
            hits[k] += rel[:, :k].any(dim=1).sum().item()
        rel = rel[:, :map_top].float()
        ranks = torch.arange(
            1, rel.shape[1] + 1, dtype=rel.dtype, device=rel.device)
        precision = rel.cumsum(dim=1) / ranks
        ap = (precision * rel).sum(dim=1) / rel.sum(dim=1).clamp(min=1)
        ap_sum += ap.sum().item()

    num_queries = query.shape[0]
    metrics = {'rank1': hits[1] / num_queries}
    metrics.update({f'recall@{k}': hits[k] / num_queries for k in topk})
    metrics['mAP'] = ap_sum / num_queries
    return metrics


def leave_one_out_retrieval(features: torch.Tensor,
                            labels: torch.Tensor,
                            topk: Sequence[int] = (1, 2, 4, 8),
                            map_top: Optional[int] = None,
                            chunk_size: int = 1024) -> Dict[str, float]:
    """Every item queries all the other items, never itself.

    Args:
        features (Tensor): Features, ``(N, C)``.
        labels (Tensor): Class labels, ``(N,)``.
        topk, map_top, chunk_size: See :func:`retrieval_metrics`.

    Returns:
        dict[str, float]: See :func:`retrieval_metrics`.
    """
    return retrieval_metrics(
        features,
        labels,
        features,
        labels,
        topk=topk,
        map_top=map_top,
        self_index=torch.arange(features.shape[0], device=features.device),
        chunk_size=chunk_size)


def weighted_knn_predict(train_features: torch.Tensor,
                         train_labels: torch.Tensor,
                         test_features: torch.Tensor,
                         k: int = 20,
                         temperature: float = 0.07,
                         chunk_size: int = 1024) -> torch.Tensor:
    """DINO's weighted k-NN classifier.

    Each test feature takes its ``k`` most cosine-similar train features;
    neighbour ``j`` votes for its class with weight ``exp(sim_j / T)``; the
    class with the largest summed vote wins.

    Args:
        train_features (Tensor): The memory, ``(N, C)``.
        train_labels (Tensor): Labels of the memory, ``(N,)``, in
            ``[0, num_classes)``.
        test_features (Tensor): Features to classify, ``(Q, C)``.
        k (int): Neighbours per test feature (at most ``N`` are used).
            Defaults to 20.
        temperature (float): ``T`` of the vote weights. Defaults to 0.07.
        chunk_size (int): Test features per similarity chunk.
            Defaults to 1024.

    Returns:
        Tensor: Predicted labels, ``(Q,)``.
    """
    _check_features('train', train_features, train_labels)
    check_int('weighted_knn_predict', 'k', k, 1)
    check_int('weighted_knn_predict', 'chunk_size', chunk_size, 1)
    check_number('weighted_knn_predict', 'temperature', temperature, low=0,
                 low_open=True)
    if train_features.shape[0] == 0:
        raise ValueError('k-NN needs at least one train feature, got none.')
    if test_features.dim() != 2:
        raise ValueError(f'test features must be (Q, C), got '
                         f'{tuple(test_features.shape)}.')

    train_features = F.normalize(train_features.float(), dim=1)
    test_features = F.normalize(test_features.float(), dim=1)
    train_labels = train_labels.long()
    num_classes = int(train_labels.max()) + 1
    k = min(k, train_features.shape[0])
    predictions = []
    for start in range(0, test_features.shape[0], chunk_size):
        sim = test_features[start:start + chunk_size] @ train_features.T
        top_sim, top_idx = sim.topk(k, dim=1)  # (q, k), best first
        # exp(sim / T) up to a per-row factor, which keeps the argmax
        weights = ((top_sim - top_sim[:, :1]) / temperature).exp()
        votes = sim.new_zeros(sim.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions) if predictions else train_labels.new_empty(0)


def leave_one_out_nearest_hits(features: torch.Tensor,
                               labels: torch.Tensor) -> torch.Tensor:
    """Per item: does its nearest other item (cosine) share its label?

    The per-image form of :func:`leave_one_out_retrieval`'s ``rank1`` (equal
    to its mean up to ties), for paired comparisons between methods.

    Args:
        features (Tensor): ``(N, C)``, ``N >= 2``.
        labels (Tensor): ``(N,)``.

    Returns:
        Tensor: ``(N,)`` bool.
    """
    _check_features('features', features, labels)
    if features.shape[0] < 2:
        raise ValueError('leave_one_out_nearest_hits needs at least 2 items.')
    x = F.normalize(features.float(), dim=1)
    sim = x @ x.T
    sim.fill_diagonal_(-torch.inf)
    return labels[sim.argmax(dim=1)] == labels
