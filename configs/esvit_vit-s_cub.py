# EsViT-style baseline of the same code: image term plus region term with
# feature matching and uniform weights, no inter-level term, no MIL.
_base_ = './cmd_vit-s_cub.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(inter_weight=0.0, matching='feature', weighting='uniform'))
