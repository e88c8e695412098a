# CUB-200-2011 for the linear probe, official layout (see cub_eval.py):
# train on the official train split, validate and test on the official test
# split (there is no separate validation split), top-1 / top-5 accuracy.
dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'

# The normalisation of pre-training (cub_multicrop.py).
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# Standard linear-probe augmentation (DINO, MoCo v3): random resized crop
# and horizontal flip only.
train_pipeline = [
    # Converts odd-but-valid files and skips unreadable ones with a warning.
    dict(type='LoadImageRobust', on_bad_image='skip'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    # An evaluation set must not lose images silently: stop on a bad file.
    dict(type='LoadImageRobust', on_bad_image='raise'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,  # off without a GPU (preflight)
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))

val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,  # off without a GPU (preflight)
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))

# Validation and test are the same official test split. A copy, so
# --cfg-options must set test_dataloader.* as well as val_dataloader.*.
test_dataloader = val_dataloader
test_evaluator = val_evaluator
