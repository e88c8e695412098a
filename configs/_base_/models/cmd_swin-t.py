# CMD with Swin-T: regions are the 7x7 cells of its last map (3x3 at 96 px).
# No class token: the image embedding is the bag. Both that and the width
# (768) are read from the backbone when the model is built.
# MultiCropSwinTransformer is mmpretrain's SwinTransformer with its window
# sizes and shifts decided at img_size, as the original Swin: at 224 px it
# computes what mmpretrain's standard Swin-T config computes (ImageNet
# weights behave as trained), and 96-px local crops are padded to the window.
model = dict(
    type='CMD',
    base_momentum=0.996,
    num_global_crops=2,
    backbone=dict(
        type='MultiCropSwinTransformer',
        arch='tiny',
        img_size=224,
        drop_path_rate=0.1),
    neck=dict(type='MILNeck'),
    head=dict(
        type='CMDHead',
        num_prototypes=8192,
        matching='feature',
        weighting='mil'),
)
