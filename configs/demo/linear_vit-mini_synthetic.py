# Demo: linear probe (top-1) on the frozen teacher backbone of a ViT-mini
# pre-training checkpoint; the backbone comes from the checkpoint through
# CMDPretrained. Pass the checkpoint when not using the demo's default:
#   python tools/train.py configs/demo/linear_vit-mini_synthetic.py \
#       --cfg-options model.init_cfg.checkpoint=PATH
_base_ = [
    './_base_/synthetic_fine_grained.py',
    './_base_/cmd_vit-mini.py',
    '../_base_/default_runtime.py',
]
max_epochs = 6
model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch={{_base_.vit_mini_arch}},
        img_size={{_base_.img_size}},
        patch_size={{_base_.patch_size}},
        out_type='cls_token',
        # all blocks and the final norm: only the head trains
        frozen_stages={{_base_.vit_mini_arch.num_layers}}),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.vit_mini_arch.embed_dims}},
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
    data_preprocessor=dict(
        num_classes={{_base_.num_classes}},
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    init_cfg=dict(
        type='CMDPretrained',
        checkpoint='work_dirs/demo/pretrain_cmd/epoch_4.pth',
        network='teacher'))

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline=[
        dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ]))
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset={{_base_.test_set}})
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.0))
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
    convert_to_iter_based=True)
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs,
    val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
