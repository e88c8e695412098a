# CMD pre-training of ViT-S/16 on Stanford Cars, 100 epochs, batch 64.
_base_ = [
    '_base_/datasets/cars_multicrop.py',
    '_base_/models/cmd_vit-s.py',
    '_base_/schedules/cmd_adamw_100e.py',
    '_base_/default_runtime.py',
]
