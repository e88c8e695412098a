# FGVC-Aircraft (variants, 100 classes) for the feature protocols (k-NN,
# retrieval), mmpretrain's official layout:
# data/fgvc-aircraft-2013b/data/images_variant_{trainval,test}.txt, images/.
# The train side is the official 'trainval' split (6667 images), the test
# side the 'test' split (3333 images).
_base_ = './cub_eval.py'
test_dataloader = dict(
    dataset=dict(
        train=dict(type='FGVCAircraft', data_root='data/fgvc-aircraft-2013b',
                   split='trainval'),
        test=dict(type='FGVCAircraft', data_root='data/fgvc-aircraft-2013b',
                  split='test')))
