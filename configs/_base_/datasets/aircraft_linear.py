# FGVC-Aircraft (100 variants) for the linear probe, mmpretrain's official
# layout (see aircraft_eval.py): train on 'trainval', validate and test on
# 'test'.
_base_ = './cub_linear.py'
train_dataloader = dict(
    dataset=dict(type='FGVCAircraft', data_root='data/fgvc-aircraft-2013b',
                 split='trainval'))
val_dataloader = dict(
    dataset=dict(type='FGVCAircraft', data_root='data/fgvc-aircraft-2013b',
                 split='test'))
test_dataloader = val_dataloader
