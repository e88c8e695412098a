# CMD with ViT-S/16 (mmpretrain 'deit-small': 384 wide, 21.7 M parameters).
# Regions: the 14x14 patch grid of a 224 crop average-pooled 2x2 -> 7x7.
# The neck's and head's in_channels (384) and the image embedding ('cls', the
# class token) are read from the backbone when the model is built: swapping
# model.backbone takes that one key (set them to override).
model = dict(
    type='CMD',
    base_momentum=0.996,
    num_global_crops=2,
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        patch_size=16,
        img_size=224,
        drop_path_rate=0.1,
        out_type='raw'),
    neck=dict(
        type='MILNeck',
        attention='gated',
        region_pool=2),
    head=dict(
        type='CMDHead',
        num_prototypes=8192,
        hidden_channels=2048,
        bottleneck_channels=256,
        share_mlp=True,
        img_weight=1.0,
        reg_weight=1.0,
        inter_weight=1.0,
        matching='feature',
        weighting='mil'),
)
