# CMD without the region-level term (ablation of cmd_effnet-lite0_cub.py):
# image-level and inter-level distillation only.
_base_ = './cmd_effnet-lite0_cub.py'
model = dict(head=dict(reg_weight=0.0))
