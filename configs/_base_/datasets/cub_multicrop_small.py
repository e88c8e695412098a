# CUB-200-2011 (official layout) with CPU-sized multi-crop views: 2 global
# crops at 112 px and 4 local crops at 48 px, batch 32.
_base_ = './cub_multicrop.py'

train_pipeline = [
    dict(type='LoadImageRobust', on_bad_image='skip'),
    dict(type='CMDMultiCrop',
         global_size=112, global_scale=(0.25, 1.0),
         num_local=4, local_size=48, local_scale=(0.05, 0.25)),
    dict(type='PackInputs',
         meta_keys=['img_path', 'crop_boxes', 'crop_flips']),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    pin_memory=False,  # CPU-sized
    dataset=dict(pipeline=train_pipeline))
