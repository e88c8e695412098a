# Demo: evaluation of a checkpoint's frozen ResNet-mini on the frozen,
# average-pooled last map: weighted k-NN top-1 and a linear probe (train
# split as memory / fit, test split scored) and leave-one-out retrieval
# within the test split, in one pass:
#   python tools/test.py configs/demo/eval_resnet-mini_synthetic.py \
#       work_dirs/demo/train_cmd/epoch_5.pth --out metrics.json
# The teacher of a CMD / DINO checkpoint is read; for a classifier (the
# supervised reference) add --cfg-options model.network=student.
_base_ = [
    './_base_/synthetic_fine_grained.py',
    './_base_/cmd_resnet-mini.py',
    '../_base_/default_runtime.py',
]
model = dict(
    _delete_=True,
    type='CMDFeatureExtractor',
    backbone={{_base_.resnet_mini}},
    feature='avg',
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
    dict(type='LinearProbeAccuracy'),
]
test_cfg = dict()
