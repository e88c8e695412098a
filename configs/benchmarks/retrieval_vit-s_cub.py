# Retrieval (and k-NN) with frozen features of a CMD ViT-S/16 pre-training
# checkpoint on CUB-200-2011: Rank-1, Recall@K and mAP in two protocols, each
# named in its keys, and k-NN top-1, all from one pass over the images. Run
# directly on the pre-training checkpoint:
#   python tools/test.py \
#       configs/benchmarks/retrieval_vit-s_cub.py PRETRAIN_CKPT
# Feature: --cfg-options model.feature=cls|avg|cls+avg|bag (see
# _base_/models/features_vit-s.py); model.network=student for the student.
_base_ = [
    '_base_/models/features_vit-s.py',
    '../_base_/datasets/cub_eval.py',
    '../_base_/default_runtime.py',
]
test_evaluator = [
    # retrieval/loo/*: every test image queries all other test images
    # (LCR, CVPR 2023), mAP over all ranks.
    dict(type='FineGrainedRetrieval', protocol='leave_one_out'),
    # retrieval/cmd_official/*: the official CMD code's protocol; test images
    # 0, 9, 18, ... query the train split plus the other test images, mAP@100.
    dict(type='FineGrainedRetrieval', protocol='cmd_official'),
    # knn/top1: the k-NN classifier of knn_*.py on the same features, free
    # once they are extracted.
    dict(type='KNNAccuracy', k=20, temperature=0.07),
]
