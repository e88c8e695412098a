# Demo (make demo): CMD pre-training of ResNet-mini on SyntheticFineGrained,
# sized for a 2-core CPU (EPOCHS epochs of batch 32). The recipe is the real one
# (configs/_base_) with a short schedule, a faster teacher, a fixed teacher
# temperature and colour-preserving augmentation.
_base_ = [
    './_base_/synthetic_fine_grained.py',
    './_base_/cmd_resnet-mini.py',
    '../_base_/schedules/cmd_adamw_100e.py',
    '../_base_/default_runtime.py',
]
max_epochs = 5
batch_size = 32
base_lr = 3e-4

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# The classes differ only in the colours and shapes of their key parts, so
# DINO's hue jitter and grayscale (which teach colour invariance) are left
# out; brightness / contrast / saturation jitter and blur stay.
photometric = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.0)],
         prob=0.8),
    dict(type='GaussianBlur', magnitude_range=(0.1, 1.0),
         magnitude_std='inf', prob=0.2),
]
train_pipeline = [
    dict(type='CMDMultiCrop',
         global_size=64, global_scale=(0.3, 1.0),
         num_local=4, local_size=32, local_scale=(0.08, 0.3),
         global_pipelines=[photometric, photometric],
         local_pipeline=photometric),
    dict(type='PackInputs', meta_keys=['crop_boxes', 'crop_flips']),
]
train_dataloader = dict(
    batch_size=batch_size,
    drop_last=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
# The teacher temperature stays at the head's 0.04 and the teacher starts
# at momentum 0.99 (0.996 would leave it near its initialisation after a
# few hundred iterations).
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='TeacherMomentumHook', start=0.99, end=1.0),
    dict(type='FreezePrototypesHook', epochs=1),
    dict(type='TeacherCollapseHook', patience=50),
]
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
