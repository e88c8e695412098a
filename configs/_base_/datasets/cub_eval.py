# CUB-200-2011 for the feature protocols (k-NN, retrieval), official layout:
#   data/CUB_200_2011/images.txt, image_class_labels.txt,
#   train_test_split.txt, images/...
# One test loop embeds the official train split (5994 images) and then the
# test split (5794 images). LabelledSplits tags every sample with its split,
# which KNNAccuracy (train votes for test) and FineGrainedRetrieval read.
# mmpretrain's CUB reads the labels from image_class_labels.txt and the class
# names from its built-in list of 200.
dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'

# The normalisation of pre-training (cub_multicrop.py), one image per sample.
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

test_pipeline = [
    # An evaluation set must not lose images silently: stop on a bad file.
    dict(type='LoadImageRobust', on_bad_image='raise'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

test_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,  # off without a GPU (preflight)
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LabelledSplits',
        train=dict(type=dataset_type, data_root=data_root, split='train',
                   pipeline=test_pipeline),
        test=dict(type=dataset_type, data_root=data_root, split='test',
                  pipeline=test_pipeline)))
test_cfg = dict()
