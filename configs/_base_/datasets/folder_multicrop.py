# Any folder of images, any nesting, no labels (mmpretrain CustomDataset).
_base_ = './cub_multicrop.py'
train_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root='data/my_images',
                 with_label=False, pipeline={{_base_.train_pipeline}}))
