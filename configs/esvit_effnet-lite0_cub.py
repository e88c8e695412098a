# EsViT-style baseline of cmd_effnet-lite0_cub.py: image term plus region
# term with feature matching and uniform weights; no inter-level term, no MIL.
_base_ = './cmd_effnet-lite0_cub.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(inter_weight=0.0, matching='feature', weighting='uniform'))
