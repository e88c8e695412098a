# Short continued pre-training from ImageNet weights (CPU-sized study).
# The head starts random, the backbone does not: the backbone learns at a
# tenth of the head's rate, after a one-epoch linear warm-up, so that the
# random head's first gradients cannot wreck the pre-trained features.
max_epochs = 10
warmup_epochs = 1
base_lr = 5e-4

# CustomKeysDecayConstructor: the backbone's lr_mult does not switch off
# norm_decay_mult / bias_decay_mult for its norms and biases (mmengine's
# default constructor drops every other rule for a custom key).
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='CustomKeysDecayConstructor',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.04,
                   betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'backbone': dict(lr_mult=0.1)}),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)

# Teacher: temperature 0.04 -> 0.07 over the first epoch, momentum cosine
# from 0.99 (a short run needs a teacher that moves) to 1; prototypes frozen
# in epoch 1.
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='BadImageCountHook'),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07,
         warmup_epochs=1),
    dict(type='TeacherMomentumHook', start=0.99, end=1.0),
    dict(type='FreezePrototypesHook', epochs=1),
    dict(type='TeacherCollapseHook', patience=100),
]
