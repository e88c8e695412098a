# CMD with Swin-T: regions are the 7x7 cells of its last map (3x3 at 96 px,
# hence pad_small_map). No class token: the image embedding is the bag. Both
# that and the width (768) are read from the backbone when the model is built.
model = dict(
    type='CMD',
    base_momentum=0.996,
    num_global_crops=2,
    backbone=dict(
        type='SwinTransformer',
        arch='tiny',
        img_size=224,
        drop_path_rate=0.1,
        pad_small_map=True),
    neck=dict(type='MILNeck'),
    head=dict(
        type='CMDHead',
        num_prototypes=8192,
        matching='feature',
        weighting='mil'),
)
