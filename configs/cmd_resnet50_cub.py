# CMD pre-training of ResNet-50 on CUB-200-2011.
_base_ = [
    '_base_/datasets/cub_multicrop.py',
    '_base_/models/cmd_resnet50.py',
    '_base_/schedules/cmd_adamw_100e.py',
    '_base_/default_runtime.py',
]
