# CMD without learned instance weights for ViT-S/16 (the ablation that
# tools/study.py --arch vit-s runs next to ../{cmd,dino,esvit}_vit-s_cub.py).
_base_ = '../cmd_vit-s_cub.py'
model = dict(
    neck=dict(attention='none'),
    head=dict(weighting='uniform'))
