# Linear-probe recipe: SGD with momentum 0.9, no weight decay, lr 0.1 per 256
# images (0.025 at batch 64; --auto-scale-lr rescales it for another total
# batch), cosine decay to 0 over 100 epochs, no warm-up.
max_epochs = 100
base_lr = 0.1 * 64 / 256

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=0.0))

# by_epoch with convert_to_iter_based: a smooth per-iteration cosine.
# Shortening a run: set train_cfg.max_epochs and param_scheduler.0.end alike.
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]

# Validation runs on the official test split (the datasets have no separate
# validation split). The reported number is the last epoch's, not the best
# one, which would select on the test set.
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
