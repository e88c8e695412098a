# Stanford Cars (mmpretrain's official layout, labels unused):
#   data/stanfordcars/devkit/cars_{train,test}_annos(_withlabels).mat,
#   cars_train/, cars_test/
_base_ = './cub_multicrop.py'
train_dataloader = dict(
    dataset=dict(type='StanfordCars', data_root='data/stanfordcars',
                 split='train'))
