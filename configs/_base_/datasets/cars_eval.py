# Stanford Cars for the feature protocols (k-NN, retrieval), mmpretrain's
# official layout: data/stanfordcars/devkit/cars_{train,test}_annos*.mat,
# cars_train/, cars_test/. Train split 8144 images, test split 8041.
_base_ = './cub_eval.py'
test_dataloader = dict(
    dataset=dict(
        train=dict(type='StanfordCars', data_root='data/stanfordcars',
                   split='train'),
        test=dict(type='StanfordCars', data_root='data/stanfordcars',
                  split='test')))
