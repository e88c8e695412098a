# Frozen features of a CMD ViT-S/16 pre-training checkpoint, for the k-NN and
# retrieval protocols (tools/test.py CONFIG PRETRAIN_CKPT). Backbone and MIL
# neck are the pre-training ones, taken from its model config, so that the
# checkpoint's keys fit exactly (a mismatch is an error naming the keys).
_base_ = '../../../_base_/models/cmd_vit-s.py'
model = dict(
    _delete_=True,
    type='CMDFeatureExtractor',
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    # 'cls': the final-norm class token (B, 384), the default;
    # 'avg': the average patch token; 'cls+avg': both concatenated (B, 768),
    # as in DINO's ViT-B linear evaluation; 'bag': the MIL neck's bag
    # embedding sum_i a_i z_i over the (pooled) patch regions.
    feature='cls',
    # 'teacher' (the EMA teacher, DINO's choice) or 'student'.
    network='teacher')
