# CMD pre-training of ViT-S/16 on your own folder of unlabeled images (any
# nesting). The one thing to change is the path:
#   python tools/train.py configs/cmd_vit-s_folder.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = [
    '_base_/datasets/folder_multicrop.py',
    '_base_/models/cmd_vit-s.py',
    '_base_/schedules/cmd_adamw_100e.py',
    '_base_/default_runtime.py',
]
