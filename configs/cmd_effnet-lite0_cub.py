# CMD continued pre-training of ImageNet EfficientNet-Lite0 on CUB-200-2011
# at CPU size (112 px global / 48 px local crops). Needs the converted
# weights, see _base_/models/cmd_effnet-lite0.py.
_base_ = [
    '_base_/datasets/cub_multicrop_small.py',
    '_base_/models/cmd_effnet-lite0.py',
    '_base_/schedules/cmd_adamw_continued.py',
    '_base_/default_runtime.py',
]

# Continued pre-training: the stem and blocks 0-4 stay frozen and every
# BatchNorm keeps its ImageNet statistics (eval mode); blocks 5-6 and
# conv_head learn at the backbone's lr_mult.
custom_hooks = _base_.custom_hooks + [
    dict(type='FreezeBackboneHook',
         frozen_prefixes=[
             'timm_model.conv_stem', 'timm_model.bn1', 'timm_model.blocks.0',
             'timm_model.blocks.1', 'timm_model.blocks.2',
             'timm_model.blocks.3', 'timm_model.blocks.4'
         ],
         norm_eval=True),
]

# Under DDP the frozen blocks were trainable when the wrapper was built: it
# must look for the parameters a step leaves unused.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
