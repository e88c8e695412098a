# Runtime shared by every pre-training config.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['cmd_plugin'], allow_failed_imports=False)
# mmengine's Runner without the per-parameter optimiser lines (and without
# "GPU number" on a machine without GPUs); see cmd_plugin/engine/runner. The
# scope prefix lets mmpretrain's own tools/train.py (mim train), which looks
# it up in mmengine's root registry, find it too.
runner_type = 'mmpretrain.CMDRunner'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook made crash-safe (atomic writes, old files
    # deleted after the new one is complete, a checkpoint and a clean exit on
    # SIGTERM / SIGINT). Checkpoints inside long epochs: by_epoch=False,
    # interval=N (every N iterations); docs/reliability.md.
    checkpoint=dict(type='CMDCheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Reseeds python / numpy / torch from (seed, epoch) before every epoch,
    # so that a resumed run draws the same augmentations and drop-path masks
    # as an uninterrupted one (mmengine restores only the seed). Inside an
    # epoch, CMDCheckpointHook saves the generators' states and
    # ResumableEpochBasedTrainLoop restores them.
    epoch_seed=dict(type='EpochSeedHook'),
    # One-line optimiser summary; epochs, wall time, final losses and the
    # last checkpoint when training ends; a table of the test metrics.
    run_summary=dict(type='RunSummaryHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# Every trainable parameter takes part in every step (the frozen prototypes
# of the first epoch too, with a zero gradient; FreezePrototypesHook), so
# DDP does not search the graph for unused parameters. A config that leaves
# parameters out of the loss sets find_unused_parameters=True (the
# EfficientNet configs, whose FreezeBackboneHook freezes blocks after DDP
# was built).
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
