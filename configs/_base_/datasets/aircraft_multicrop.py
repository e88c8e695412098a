# FGVC-Aircraft (mmpretrain's official layout, labels unused):
#   data/fgvc-aircraft-2013b/data/images_*.txt, images/
_base_ = './cub_multicrop.py'
train_dataloader = dict(
    dataset=dict(type='FGVCAircraft', data_root='data/fgvc-aircraft-2013b',
                 split='trainval'))
