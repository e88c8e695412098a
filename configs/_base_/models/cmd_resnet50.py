# CMD with ResNet-50: regions are the cells of its last map (7x7 at 224,
# 3x3 at 96). No class token: the image embedding is the bag. Both that and
# the width (2048) are read from the backbone when the model is built.
model = dict(
    type='CMD',
    base_momentum=0.996,
    num_global_crops=2,
    # As DINO's ResNet teacher: the teacher's BatchNorm normalises its own
    # batch of global crops (train mode) and keeps its own running
    # statistics, instead of using the student's, which half come from
    # 96-px local crops ('running', CMD's default).
    teacher_bn='batch',
    backbone=dict(type='ResNet', depth=50, zero_init_residual=True),
    neck=dict(type='MILNeck'),
    head=dict(
        type='CMDHead',
        num_prototypes=8192,
        matching='feature',
        weighting='mil'),
)
# Under DDP every BatchNorm (student and teacher) becomes a SyncBatchNorm, so
# batch statistics are those of the global batch, as DINO does; mmengine
# applies it only to distributed runs.
sync_bn = 'torch'
