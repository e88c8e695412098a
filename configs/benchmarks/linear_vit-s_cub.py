# Linear probe of a CMD ViT-S/16 on CUB-200-2011 (200 classes): frozen
# backbone, one linear layer, SGD cosine 100 epochs; accuracy/top1 and top5 on
# the official test split. Train on a pre-training checkpoint, then test the
# probe:
#   python tools/train.py configs/benchmarks/linear_vit-s_cub.py \
#       --cfg-options model.init_cfg.checkpoint=PRETRAIN_CKPT
#   python tools/test.py configs/benchmarks/linear_vit-s_cub.py \
#       work_dirs/linear_vit-s_cub/epoch_100.pth
_base_ = [
    '_base_/models/linear_vit-s.py',
    '../_base_/datasets/cub_linear.py',
    '_base_/schedules/linear_sgd_coslr_100e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    head=dict(num_classes=200),
    init_cfg=dict(checkpoint='work_dirs/cmd_vit-s_cub/epoch_100.pth'))
