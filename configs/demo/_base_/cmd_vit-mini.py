# CMD with "ViT-mini": 4 layers, 128 wide, 4 heads, 8 px patches at 64 px
# (8x8 patches; MIL regions pooled 2x2 -> 4x4 cells of 16 px, the size of a
# key part). Head scaled down with the backbone (K = 1024 prototypes).
_base_ = '../../_base_/models/cmd_vit-s.py'
vit_mini_arch = dict(
    embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512)
img_size = 64
patch_size = 8
model = dict(
    base_momentum=0.99,
    backbone=dict(
        arch=dict(_delete_=True, **vit_mini_arch),
        img_size=img_size,
        patch_size=patch_size,
        drop_path_rate=0.0),
    neck=dict(in_channels=vit_mini_arch['embed_dims'], attn_channels=64),
    head=dict(
        in_channels=vit_mini_arch['embed_dims'],
        num_prototypes=1024,
        hidden_channels=512,
        bottleneck_channels=128))
