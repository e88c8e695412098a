# DINO baseline of cmd_effnet-lite0_cub.py: image term only, uniform weights
# (the bag is the average-pooled map), same head, data and schedule.
_base_ = './cmd_effnet-lite0_cub.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(reg_weight=0.0, inter_weight=0.0))
