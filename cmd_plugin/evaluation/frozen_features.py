"""Frozen-feature evaluation of a pre-trained teacher on cached images.

A fast path for studies that evaluate many runs on the same images: the
images are decoded and resized once (``(N, 3, S, S)`` uint8), the teacher
backbone of each run embeds them, and the linear probe, k-NN and
leave-one-out retrieval run on the cached features.
"""
from typing import Dict, Tuple

import torch
from mmengine.registry import DefaultScope

from ..models.algorithms.feature_extractor import CMDFeatureExtractor
from .functional import (leave_one_out_nearest_hits, leave_one_out_retrieval,
                         weighted_knn_predict)
from .linear_probe import linear_probe_predict

#: DINO's weighted k-NN vote.
KNN_K, KNN_T = 20, 0.07


@torch.no_grad()
def teacher_features(backbone: dict, preprocessor: dict,
                     state: Dict[str, torch.Tensor], images: torch.Tensor,
                     device: torch.device,
                     batch_size: int = 64) -> torch.Tensor:
    """Average-pooled last-map features of the teacher backbone.

    Args:
        backbone (dict): The backbone config (its ``init_cfg`` is ignored).
        preprocessor (dict): A data preprocessor config with ``mean`` and
            ``std`` (0-255 scale).
        state (dict): A CMD model's state dict (``teacher.backbone.*``).
        images (Tensor): ``(N, 3, S, S)`` uint8 images.
        device (torch.device): Where the backbone runs.
        batch_size (int): Images per forward pass.

    Returns:
        Tensor: ``(N, C)`` float32 features on the CPU.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        extractor = CMDFeatureExtractor(
            backbone=dict(backbone, init_cfg=None), feature='avg',
            network='teacher')
    extractor.load_state_dict(state)
    extractor.to(device).eval()
    mean = torch.tensor(preprocessor['mean'], device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor['std'], device=device).view(1, 3, 1, 1)
    feats = []
    for batch in images.split(batch_size):
        x = (batch.to(device).float() - mean) / std
        feats.append(extractor.extract_feat(x).float().cpu())
    return torch.cat(feats)


def evaluate_frozen_features(train_x: torch.Tensor, train_y: torch.Tensor,
                             eval_x: torch.Tensor, eval_y: torch.Tensor,
                             num_classes: int
                             ) -> Tuple[Dict[str, float], Dict[str, str]]:
    """Linear probe, k-NN, Rank-1 and mAP in percent, with per-image hits.

    Args:
        train_x (Tensor): ``(N, C)`` train features (probe and k-NN memory).
        train_y (Tensor): ``(N,)`` train labels.
        eval_x (Tensor): ``(M, C)`` evaluation features (the queries; the
            retrieval gallery is the evaluation set, leave-one-out).
        eval_y (Tensor): ``(M,)`` evaluation labels.
        num_classes (int): Classes of the probe.

    Returns:
        tuple: ``linear_top1``, ``knn_top1``, ``rank1``, ``mAP`` in percent,
        and, per image in evaluation order, whether the probe and the nearest
        neighbour were right (``linear_top1`` / ``rank1``: strings of
        ``'0'`` / ``'1'``, for paired tests).
    """
    knn = weighted_knn_predict(train_x, train_y, eval_x, k=KNN_K,
                               temperature=KNN_T)
    retrieval = leave_one_out_retrieval(eval_x, eval_y)
    linear = linear_probe_predict(train_x, train_y, eval_x,
                                  num_classes) == eval_y
    metrics = dict(
        linear_top1=100 * linear.float().mean().item(),
        knn_top1=100 * (knn == eval_y).float().mean().item(),
        rank1=100 * retrieval['rank1'],
        mAP=100 * retrieval['mAP'])
    per_image = dict(linear_top1=linear,
                     rank1=leave_one_out_nearest_hits(eval_x, eval_y))
    return metrics, {k: ''.join('1' if hit else '0' for hit in v.tolist())
                     for k, v in per_image.items()}
