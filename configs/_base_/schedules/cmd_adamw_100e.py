# DINO's ViT-S/16 recipe (docs/design.md, Defaults) for 100 epochs.
# lr = 5e-4 * total_batch / 256; --auto-scale-lr rescales it for other
# batch sizes.
max_epochs = 100
warmup_epochs = 10
base_lr = 5e-4 * 64 / 256

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.04,
                   betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
        }),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    # weight decay 0.04 -> 0.4 (x10) on a cosine; groups without decay
    # (norms, biases, embeddings) stay at 0.
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=64)

# Teacher schedules: temperature 0.04 -> 0.07 over 30 epochs, momentum
# cosine to 1, prototypes frozen in epoch 1. Safety: stop before a
# checkpoint when a loss term turns NaN/inf; log skipped unreadable images.
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='BadImageCountHook'),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07,
         warmup_epochs=30),
    dict(type='TeacherMomentumHook', start=0.996, end=1.0),
    dict(type='FreezePrototypesHook', epochs=1),
    dict(type='TeacherCollapseHook', patience=100),
]
