# Linear probe on a frozen CMD ViT-S/16: mmpretrain's ImageClassifier with
# the pre-training backbone (same arch, patch size and img_size, so that the
# checkpoint's keys fit), frozen, and one linear layer.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        patch_size=16,
        img_size=224,
        # The final-norm class token, (B, 384).
        out_type='cls_token',
        # Patch embedding, position embedding, class token, all 12 blocks and
        # the final norm: requires_grad off.
        frozen_stages=12,
        # mmpretrain's ViT keeps its train mode when frozen; without
        # stochastic depth (and dropout, 0 by default) that is harmless.
        drop_path_rate=0.0),
    head=dict(
        type='LinearClsHead',
        num_classes=200,  # set by each benchmark config from its dataset
        in_channels=384,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
    # The backbone from one network of a CMD pre-training checkpoint, loaded
    # strictly (a missing / unexpected key or a shape mismatch is an error).
    # Set the path with --cfg-options model.init_cfg.checkpoint=...;
    # network='student' takes the student instead of the EMA teacher. It must
    # be the model's init_cfg, not model.backbone.init_cfg.
    init_cfg=dict(
        type='CMDPretrained',
        checkpoint='work_dirs/cmd_vit-s_cub/epoch_100.pth',
        network='teacher'))

# Other features, with mmpretrain's own components (same checkpoint):
# - the average patch token instead of the class token:
#       model = dict(backbone=dict(out_type='featmap'),
#                    neck=dict(type='GlobalAveragePooling'))
#   ('featmap' gives the final-norm patch tokens as a (B, 384, 14, 14) map;
#   not out_type='avg_featmap', whose extra LayerNorm 'ln2' is not in a CMD
#   checkpoint and would fail the strict load).
# DINO's richer linear features, with this plugin's TokenConcatNeck:
# - class token + average patch token of the last block (DINO's ViT-B):
#       model = dict(backbone=dict(out_type='raw'),
#                    neck=dict(type='TokenConcatNeck', avg_patch=True),
#                    head=dict(in_channels=768))
# - class tokens of the last 4 blocks (DINO's ViT-S):
#       model = dict(backbone=dict(out_type='raw', out_indices=[8, 9, 10, 11]),
#                    neck=dict(type='TokenConcatNeck', num_blocks=4),
#                    head=dict(in_channels=1536))
# For k-NN / retrieval, model.feature='cls+avg' of the features_* configs
# gives the class + average patch token concatenation.
