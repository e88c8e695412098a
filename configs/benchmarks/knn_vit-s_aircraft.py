# k-NN top-1 with frozen features of a CMD ViT-S/16 pre-training checkpoint on
# FGVC-Aircraft: DINO's weighted vote (k = 20, T = 0.07) of the official train
# split for every test image, logged as knn/top1. Run directly on the
# pre-training checkpoint:
#   python tools/test.py configs/benchmarks/knn_vit-s_aircraft.py PRETRAIN_CKPT
# Feature: --cfg-options model.feature=cls|avg|cls+avg|bag (see
# _base_/models/features_vit-s.py); model.network=student for the student.
_base_ = [
    '_base_/models/features_vit-s.py',
    '../_base_/datasets/aircraft_eval.py',
    '../_base_/default_runtime.py',
]
test_evaluator = [dict(type='KNNAccuracy', k=20, temperature=0.07)]
