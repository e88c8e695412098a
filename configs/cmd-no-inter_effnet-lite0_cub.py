# CMD without the inter-level term (ablation of cmd_effnet-lite0_cub.py):
# image-level and region-level distillation only. The image embedding is the
# MIL bag (no class token), so the image term still trains the attention.
_base_ = './cmd_effnet-lite0_cub.py'
model = dict(head=dict(inter_weight=0.0))
