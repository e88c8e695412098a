# Stanford Cars (196 classes) for the linear probe, mmpretrain's official
# layout (see cars_eval.py): train on 'train', validate and test on 'test'.
_base_ = './cub_linear.py'
train_dataloader = dict(
    dataset=dict(type='StanfordCars', data_root='data/stanfordcars',
                 split='train'))
val_dataloader = dict(
    dataset=dict(type='StanfordCars', data_root='data/stanfordcars',
                 split='test'))
test_dataloader = val_dataloader
