# Linear probe on a frozen CMD ResNet-50: mmpretrain's ImageClassifier with
# the pre-training backbone, frozen, global average pooling of its last map
# and one linear layer.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        # Stem and all 4 stages: requires_grad off and eval mode; norm_eval
        # keeps every BatchNorm on its pre-training statistics.
        frozen_stages=4,
        norm_eval=True),
    # (B, 2048, 7, 7) -> (B, 2048)
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=200,  # set by each benchmark config from its dataset
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
    # The backbone from one network of a CMD pre-training checkpoint, loaded
    # strictly. Set the path with --cfg-options model.init_cfg.checkpoint=...;
    # network='student' takes the student instead of the EMA teacher.
    init_cfg=dict(
        type='CMDPretrained',
        checkpoint='work_dirs/cmd_resnet50_cub/epoch_100.pth',
        network='teacher'))
