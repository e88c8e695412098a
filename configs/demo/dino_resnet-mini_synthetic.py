# Demo: the DINO baseline of the same code (as configs/dino_vit-s_cub.py):
# image term only, no MIL attention (the bag is the mean of the map); same
# backbone, head, crops and schedule.
_base_ = './cmd_resnet-mini_synthetic.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(reg_weight=0.0, inter_weight=0.0))
