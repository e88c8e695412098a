# Retrieval (and k-NN) with frozen features of a CMD Swin-T pre-training
# checkpoint on CUB-200-2011: Rank-1, Recall@K and mAP in two protocols, each
# named in its keys, and k-NN top-1, all from one pass over the images. Run
# directly on the pre-training checkpoint:
#   python tools/test.py \
#       configs/benchmarks/retrieval_swin-t_cub.py PRETRAIN_CKPT
# Feature: --cfg-options model.feature=avg|bag (see
# _base_/models/features_swin-t.py); model.network=student for the student.
_base_ = [
    '_base_/models/features_swin-t.py',
    '../_base_/datasets/cub_eval.py',
    '_base_/evaluators/retrieval_knn.py',
    '../_base_/default_runtime.py',
]
