# Retrieval (and k-NN) with frozen features of a CMD ViT-S/16 pre-training
# checkpoint on FGVC-Aircraft: Rank-1, Recall@K and mAP in two protocols, each
# named in its keys, and k-NN top-1, all from one pass over the images. Run
# directly on the pre-training checkpoint:
#   python tools/test.py \
#       configs/benchmarks/retrieval_vit-s_aircraft.py PRETRAIN_CKPT
# Feature: --cfg-options model.feature=cls|avg|cls+avg|bag (see
# _base_/models/features_vit-s.py); model.network=student for the student.
_base_ = [
    '_base_/models/features_vit-s.py',
    '../_base_/datasets/aircraft_eval.py',
    '_base_/evaluators/retrieval_knn.py',
    '../_base_/default_runtime.py',
]
