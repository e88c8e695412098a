# DINO baseline of the same code: image term only, no MIL (uniform weights,
# no attention parameters). Same head (K = 8192) for a like-for-like
# comparison with cmd_vit-s_cub.py.
_base_ = './cmd_vit-s_cub.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(reg_weight=0.0, inter_weight=0.0))
