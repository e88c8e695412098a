# Demo: k-NN top-1 and leave-one-out retrieval on the frozen teacher of a
# ViT-mini pre-training checkpoint (cls token features):
#   python tools/test.py configs/demo/knn-retrieval_vit-mini_synthetic.py \
#       work_dirs/demo/pretrain_cmd/epoch_4.pth --out metrics.json
_base_ = [
    './_base_/synthetic_fine_grained.py',
    './_base_/cmd_vit-mini.py',
    '../_base_/default_runtime.py',
]
model = dict(
    _delete_=True,
    type='CMDFeatureExtractor',
    backbone={{_base_.model.backbone}},
    feature='cls',
    network='teacher',
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
train_dataloader = None  # evaluation only
test_dataloader = dict(
    batch_size=100,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LabelledSplits',
        train={{_base_.train_set}},
        test={{_base_.test_set}}))
test_evaluator = [
    dict(type='KNNAccuracy', k=20, temperature=0.07),
    dict(type='FineGrainedRetrieval', protocol='leave_one_out'),
]
test_cfg = dict()
