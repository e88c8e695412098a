# Frozen features of a CMD Swin-T pre-training checkpoint, for the k-NN and
# retrieval protocols (tools/test.py CONFIG PRETRAIN_CKPT). Backbone and MIL
# neck are the pre-training ones, taken from its model config, so that the
# checkpoint's keys fit exactly (a mismatch is an error naming the keys).
_base_ = '../../../_base_/models/cmd_swin-t.py'
model = dict(
    _delete_=True,
    type='CMDFeatureExtractor',
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    # Swin has no class token. 'avg': the average-pooled last map (B, 768),
    # the usual backbone feature and the one the linear probe uses;
    # 'bag': the MIL neck's bag embedding sum_i a_i z_i over the 7x7 cells,
    # the image embedding the pre-training image head saw.
    feature='avg',
    # 'teacher' (the EMA teacher) or 'student'.
    network='teacher')
