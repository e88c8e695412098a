# Linear probe on a frozen CMD Swin-T: mmpretrain's ImageClassifier with the
# pre-training backbone (so that the checkpoint's keys fit), frozen, global
# average pooling of its last map and one linear layer.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='MultiCropSwinTransformer',
        arch='tiny',
        img_size=224,
        # Patch embedding, all 4 stages and the output norm: requires_grad
        # off and eval mode (Swin re-applies it in train()).
        frozen_stages=3,
        drop_path_rate=0.0),
    # (B, 768, 7, 7) -> (B, 768)
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=200,  # set by each benchmark config from its dataset
        in_channels=768,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
    # The backbone from one network of a CMD pre-training checkpoint, loaded
    # strictly. Set the path with --cfg-options model.init_cfg.checkpoint=...;
    # network='student' takes the student instead of the EMA teacher.
    init_cfg=dict(
        type='CMDPretrained',
        checkpoint='work_dirs/cmd_swin-t_cub/epoch_100.pth',
        network='teacher'))
