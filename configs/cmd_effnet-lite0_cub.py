# CMD continued pre-training of ImageNet EfficientNet-Lite0 on CUB-200-2011
# at CPU size (112 px global / 48 px local crops). Needs the converted
# weights, see _base_/models/cmd_effnet-lite0.py.
_base_ = [
    '_base_/datasets/cub_multicrop_small.py',
    '_base_/models/cmd_effnet-lite0.py',
    '_base_/schedules/cmd_adamw_continued.py',
    '_base_/default_runtime.py',
]
