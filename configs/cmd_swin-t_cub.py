# CMD pre-training of Swin-T on CUB-200-2011 (the paper's backbone).
_base_ = [
    '_base_/datasets/cub_multicrop.py',
    '_base_/models/cmd_swin-t.py',
    '_base_/schedules/cmd_adamw_100e.py',
    '_base_/default_runtime.py',
]
