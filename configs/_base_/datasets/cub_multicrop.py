# CUB-200-2011 (official layout, labels unused) with CMD's multi-crop views.
#   data/CUB_200_2011/images.txt, train_test_split.txt, images/...
dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'

# non_blocking: the batch (pinned, see pin_memory below) is copied to the
# GPU without stopping the host until the copy is done.
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    non_blocking=True)

train_pipeline = [
    # Converts odd-but-valid files (grayscale, CMYK, 16-bit, palette, tiny)
    # and skips unreadable ones with a warning ('raise' to stop instead).
    dict(type='LoadImageRobust', on_bad_image='skip'),
    dict(type='CMDMultiCrop',
         global_size=224, global_scale=(0.25, 1.0),
         num_local=10, local_size=96, local_scale=(0.05, 0.25)),
    dict(type='PackInputs', meta_keys=['img_path', 'crop_boxes', 'crop_flips']),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    # page-locked batches for fast, asynchronous copies to the GPU (switched
    # off with an info line on a machine without one)
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
