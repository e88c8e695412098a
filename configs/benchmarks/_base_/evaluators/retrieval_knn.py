# Retrieval in both protocols plus k-NN, all from one pass over the images.
test_evaluator = [
    # retrieval/loo/*: every test image queries all other test images
    # (LCR, CVPR 2023), mAP over all ranks.
    dict(type='FineGrainedRetrieval', protocol='leave_one_out'),
    # retrieval/cmd_official/*: the official CMD code's protocol; test images
    # 0, 9, 18, ... query the train split plus the other test images, mAP@100.
    dict(type='FineGrainedRetrieval', protocol='cmd_official'),
    # knn/top1: the k-NN classifier of knn_*.py on the same features, free
    # once they are extracted.
    dict(type='KNNAccuracy', k=20, temperature=0.07),
]
