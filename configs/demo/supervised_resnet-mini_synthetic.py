# Demo: the supervised reference (the ceiling of the demo's table):
# ResNet-mini trained with the labels for as many iterations as the
# pre-trainings (same batch and epochs), on their global crops' scale range
# and colour augmentation, one 64 px crop per image.
_base_ = [
    './_base_/synthetic_fine_grained.py',
    './_base_/cmd_resnet-mini.py',
    '../_base_/default_runtime.py',
]
max_epochs = 5
model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone={{_base_.resnet_mini}},
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=128,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
    data_preprocessor=dict(
        num_classes={{_base_.num_classes}},
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.3, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.0)],
         prob=0.8),
    dict(type='PackInputs'),
]))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
