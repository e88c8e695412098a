# configs/cmd_vit-s_cub.py with the multi-crop made on the model's device
# (docs/design.md, "Multi-crop on the device"). The loader decodes each image
# and resizes it once to 384 x 384 (ResizeForDeviceCrops), nothing random;
# CMDMultiCropPreprocessor then draws the 2 global (224 px) and 10 local
# (96 px) crops of the whole batch on the model's device: boxes, flips and
# DINO's photometrics with the distributions of CMDMultiCrop, and the same
# crop list, boxes (in the original image's pixels) and flips for CMD.
# Loader CPU time: 3.6-5.9 ms per image, JPEG decode included, against 30-42 ms
# for cmd_vit-s_cub.py (docs/benchmarks.md, "Multi-crop on the device"; CPU,
# no GPU measurement yet).
_base_ = './cmd_vit-s_cub.py'

train_pipeline = [
    # Converts odd-but-valid files (grayscale, CMYK, 16-bit, palette, tiny)
    # and skips unreadable ones with a warning ('raise' to stop instead).
    dict(type='LoadImageRobust', on_bad_image='skip'),
    dict(type='ResizeForDeviceCrops', size=384),
    # ori_shape: the frame in which the crop boxes are drawn
    dict(type='PackInputs', meta_keys=['img_path', 'ori_shape']),
]

train_dataloader = dict(
    # 384 x 384 x 3 bytes per image; pinned for asynchronous copies
    pin_memory=True,
    dataset=dict(pipeline=train_pipeline))

data_preprocessor = dict(
    _delete_=True,
    type='CMDMultiCropPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    non_blocking=True,
    global_size=224, global_scale=(0.25, 1.0),
    num_local=10, local_size=96, local_scale=(0.05, 0.25))
