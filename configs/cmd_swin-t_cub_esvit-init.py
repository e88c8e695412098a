# The paper's protocol: CMD continued pre-training on CUB-200-2011 from
# EsViT's self-supervised ImageNet Swin-T with window 14 (the official CMD
# code starts from SwinT_W14_checkpoint_best.pth, its teacher weights), with
# 2 global crops at 224 px and 8 local crops at 96 px. Convert the checkpoint
# once (README, "Continued pre-training"):
#   python tools/convert_pretrained.py SwinT_W14_checkpoint_best.pth \
#       work_dirs/pretrained/esvit_swin-t_w14.pth --format esvit \
#       --trust-checkpoint
# then train:
#   python tools/train.py configs/cmd_swin-t_cub_esvit-init.py
# The backbone starts from EsViT's teacher; the MIL neck and the CMD head
# (MLP and prototypes) start random.
_base_ = './cmd_swin-t_cub.py'

esvit_swin_t_w14 = 'work_dirs/pretrained/esvit_swin-t_w14.pth'

model = dict(
    backbone=dict(
        # window 14: stages 0-1 shift 14x14 windows, stage 2 (14x14 at 224
        # px) does not shift, stage 3 (7x7) uses 7x7 windows; the relative
        # position tables are 27x27 rows (13x13 in stage 3), as EsViT's
        window_size=14,
        # EsViT's Swin uses LayerNorm(eps=1e-6) everywhere
        layer_norm_eps=1e-6,
        init_cfg=dict(type='Pretrained', checkpoint=esvit_swin_t_w14)))

train_pipeline = [
    dict(type='LoadImageRobust', on_bad_image='skip'),
    dict(type='CMDMultiCrop',
         global_size=224, global_scale=(0.25, 1.0),
         num_local=8, local_size=96, local_scale=(0.05, 0.25)),
    dict(type='PackInputs', meta_keys=['img_path', 'crop_boxes', 'crop_flips']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
