"""FineGrainedRetrieval, KNNAccuracy and LinearProbeAccuracy through
process / evaluate."""
import math

import pytest
import torch
from mmengine.evaluator import Evaluator

from cmd_plugin.evaluation.metrics import (FineGrainedRetrieval, KNNAccuracy,
                                          LinearProbeAccuracy)
from mmpretrain.structures import DataSample


def sample(degrees, label, split):
    """A data sample dict as mmengine's Evaluator hands it to metrics."""
    rad = math.radians(degrees)
    data_sample = DataSample(metainfo=dict(split=split)).set_gt_label(label)
    data_sample.set_field(torch.tensor([math.cos(rad), math.sin(rad)]),
                          'feature')
    return data_sample.to_dict()


# Test split: the 4-point case of test_functional (LOO Rank-1 = 0,
# R@2 = 50 %, mAP = 5/12); train images sit exactly on each test image.
TEST = [(0, 0), (10, 1), (90, 0), (100, 1)]
TRAIN = [(0, 0), (10, 1), (90, 0), (100, 1)]


def run(metric, samples, batch_size=3):
    for start in range(0, len(samples), batch_size):
        metric.process(None, samples[start:start + batch_size])
    return metric.evaluate(len(samples))


def all_samples():
    return ([sample(d, y, 'train') for d, y in TRAIN] +
            [sample(d, y, 'test') for d, y in TEST])


def test_leave_one_out_keys_and_values():
    metrics = run(FineGrainedRetrieval(topk=(1, 2)), all_samples())
    assert metrics == pytest.approx({
        'retrieval/loo/rank1': 0.0,
        'retrieval/loo/recall@1': 0.0,
        'retrieval/loo/recall@2': 50.0,
        'retrieval/loo/mAP': 100 * 5 / 12,
    })


def test_cmd_official_queries_every_ninth_test_image():
    # test images 0 and 9 are queries (classes 0 and 1); the gallery is the
    # train split (one exact copy of each query's class) plus test 1..8
    test = [(0, 0)] + [(180, 2)] * 8 + [(45, 1)]
    train = [(1, 0), (46, 1), (91, 3)]
    samples = ([sample(d, y, 'train') for d, y in train] +
               [sample(d, y, 'test') for d, y in test])
    metrics = run(
        FineGrainedRetrieval(protocol='cmd_official', topk=(1, )), samples)
    assert metrics == pytest.approx({
        'retrieval/cmd_official/rank1': 100.0,
        'retrieval/cmd_official/recall@1': 100.0,
        'retrieval/cmd_official/mAP@100': 100.0,
    })
    # test image 9 only finds its class because it is a query, not in
    # the gallery: as leave-one-out, the lone class-1 test image and the
    # class-0 image (nearest: the class-1 one at 45 degrees) score 0, the
    # eight class-2 images find each other: Rank-1 = 8 / 10
    loo = run(FineGrainedRetrieval(topk=(1, )), samples)
    assert loo['retrieval/loo/rank1'] == pytest.approx(80.0)


def test_map_top_is_named_in_the_key():
    metrics = run(FineGrainedRetrieval(topk=(1, ), map_top=2), all_samples())
    assert metrics['retrieval/loo/mAP@2'] == pytest.approx(25.0)
    assert 'retrieval/loo/mAP' not in metrics


def test_knn_accuracy_uses_train_as_memory():
    # each test image has its exact copy (same class) in the train split
    metrics = run(KNNAccuracy(k=1), all_samples())
    assert metrics == {'knn/top1': pytest.approx(100.0)}
    # with the train labels flipped, every test image is misclassified
    flipped = ([sample(d, 1 - y, 'train') for d, y in TRAIN] +
               [sample(d, y, 'test') for d, y in TEST])
    assert run(KNNAccuracy(k=1), flipped) == {'knn/top1': 0.0}


def test_linear_probe_fits_train_and_scores_test():
    # classes 0 and 1 are separable by the sign of the feature's sine
    train = [(d, 0) for d in (-80, -60, -30)] + [(d, 1) for d in (30, 60, 80)]
    test = [(-45, 0), (-10, 0), (20, 1), (70, 1)]
    samples = ([sample(d, y, 'train') for d, y in train] +
               [sample(d, y, 'test') for d, y in test])
    assert run(LinearProbeAccuracy(), samples) == {
        'linear/top1': pytest.approx(100.0)}
    wrong = [sample(d, 1 - y, 'test') for d, y in test]
    assert run(LinearProbeAccuracy(),
               samples[:len(train)] + wrong) == {'linear/top1': 0.0}


def test_metrics_share_one_evaluator():
    evaluator = Evaluator([FineGrainedRetrieval(), KNNAccuracy(k=1),
                           LinearProbeAccuracy()])
    samples = all_samples()
    evaluator.process(samples)
    metrics = evaluator.evaluate(len(samples))
    assert set(metrics) == {
        'retrieval/loo/rank1', 'retrieval/loo/recall@1',
        'retrieval/loo/recall@2', 'retrieval/loo/recall@4',
        'retrieval/loo/recall@8', 'retrieval/loo/mAP', 'knn/top1',
        'linear/top1'
    }


def test_missing_split_names_the_fix():
    data_sample = sample(0, 0, 'test')
    del data_sample['split']
    with pytest.raises(KeyError, match="missing \\['split'\\].*LabelledSplits"):
        FineGrainedRetrieval().process(None, [data_sample])


def test_unknown_split_lists_valid_ones():
    with pytest.raises(ValueError, match="'val'.*\\['train', 'test'\\]"):
        KNNAccuracy().process(None, [sample(0, 0, 'val')])


def test_knn_needs_train_samples():
    metric = KNNAccuracy()
    metric.process(None, [sample(d, y, 'test') for d, y in TEST])
    with pytest.raises(ValueError, match="no 'train' samples"):
        metric.compute_metrics(metric.results)


@pytest.mark.parametrize('kwargs, message', [
    (dict(protocol='query_gallery'), "'leave_one_out', 'cmd_official'"),
    (dict(topk=(0, 1)), 'topk'),
    (dict(map_top=-1), 'map_top'),
])
def test_retrieval_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FineGrainedRetrieval(**kwargs)
