# CMD with "ResNet-mini": mmpretrain's ResNet-18 at half width (32-64-128
# channels) and its first three stages only, so that a 64 px crop gives a
# 4x4 map of 16 px cells (about a key part) and a 32 px local crop 2x2;
# 0.7 M parameters. The regions are the map's cells; there is no class
# token, so the image embedding is the MIL bag (the mean of the map for
# DINO). Neck and head widths are read from the backbone. Head scaled down
# with the backbone (K = 1024 prototypes), with BatchNorm in its MLP: a
# fresh network's pooled features are nearly identical for all images (mean
# cosine 0.99), which BatchNorm removes, so the teacher's first targets
# already differ between images.
_base_ = '../../_base_/models/cmd_resnet50.py'
resnet_mini = dict(
    type='ResNet',
    depth=18,
    stem_channels=32,
    base_channels=32,
    num_stages=3,
    strides=(1, 2, 2),
    dilations=(1, 1, 1),
    out_indices=(2, ),
    zero_init_residual=True)
model = dict(
    base_momentum=0.99,
    backbone=resnet_mini,
    neck=dict(attn_channels=64),
    head=dict(
        num_prototypes=1024,
        hidden_channels=512,
        bottleneck_channels=128,
        mlp_norm='bn'))
