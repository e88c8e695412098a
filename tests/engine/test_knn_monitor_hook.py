"""KNNMonitorHook: teacher features, schedule, logging, train mode kept."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner import Runner

from cmd_checkpoints import build_tiny_cmd
from cmd_plugin.engine.hooks import KNNMonitorHook
from cmd_plugin.evaluation.functional import weighted_knn_predict
from mmpretrain.datasets import CUB

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]


class ScalarRecorder:
    """Stands in for the runner's visualizer."""

    def __init__(self):
        self.calls = []

    def add_scalars(self, scalars, step):
        self.calls.append((scalars, step))


def loader(root, split, **kwargs):
    return dict(
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type=CUB, data_root=str(root), split=split, pipeline=PIPELINE),
        **kwargs)


def fake_runner(model, epoch):
    return SimpleNamespace(
        model=model,
        epoch=epoch,
        seed=0,
        build_dataloader=Runner.build_dataloader,
        logger=MMLogger.get_instance('test_knn_monitor_hook'),
        message_hub=MessageHub.get_instance('test_knn_monitor_hook'),
        visualizer=ScalarRecorder())


@pytest.fixture(scope='module')
def model():
    return build_tiny_cmd()


def make_hook(root, **kwargs):
    # pseudo_collate for the memory, default_collate for the queries: the
    # SelfSupDataPreprocessor of CMD returns a list and a tensor for them
    return KNNMonitorHook(
        train_dataloader=loader(root, 'train'),
        val_dataloader=loader(
            root, 'test', collate_fn=dict(type='default_collate')),
        **kwargs)


def embed(backbone, neck, root, split):
    dataset = CUB(data_root=str(root), split=split, pipeline=PIPELINE)
    images = torch.stack([dataset[i]['inputs'] for i in range(len(dataset))])
    labels = torch.tensor([dataset[i]['data_samples'].gt_label.item()
                           for i in range(len(dataset))])
    with torch.no_grad():
        return neck(backbone(images.float())).bag, labels


def test_logs_the_teacher_bag_knn_every_interval(model, tiny_cub):
    hook = make_hook(tiny_cub, interval=2, k=3, feature='bag')
    runner = fake_runner(model, epoch=0)
    hook.before_train(runner)
    hook.after_train_epoch(runner)  # epoch 1 of 2: nothing
    assert runner.visualizer.calls == []

    model.train()
    runner.epoch = 1
    hook.after_train_epoch(runner)
    train_feats, train_labels = embed(model.teacher.backbone,
                                      model.teacher.neck, tiny_cub, 'train')
    test_feats, test_labels = embed(model.teacher.backbone,
                                    model.teacher.neck, tiny_cub, 'test')
    predictions = weighted_knn_predict(
        train_feats, train_labels, test_feats, k=3)
    expected = 100 * (predictions == test_labels).float().mean().item()
    assert runner.visualizer.calls == [({
        'knn/top1': pytest.approx(expected)
    }, 2)]
    assert runner.message_hub.get_scalar('knn/top1').current() == \
        pytest.approx(expected)
    assert model.training and model.backbone.training  # mode restored


def test_student_network_uses_the_student(model, tiny_cub):
    model.eval()
    student = make_hook(tiny_cub, interval=1, network='student')
    teacher = make_hook(tiny_cub, interval=1, network='teacher')
    for hook in (student, teacher):
        hook.before_train(fake_runner(model, 0))
    student_feats, _ = student._embed(model, 'train')
    teacher_feats, _ = teacher._embed(model, 'train')
    images = torch.stack([
        CUB(data_root=str(tiny_cub), split='train', pipeline=PIPELINE)[0]
        ['inputs']
    ]).float()
    with torch.no_grad():
        torch.testing.assert_close(student_feats[:1],
                                   model.backbone(images)[-1][:, 0])
    assert not torch.allclose(student_feats, teacher_feats)


@pytest.mark.parametrize('kwargs, message', [
    (dict(interval=0), 'interval'),
    (dict(feature='patch'), "'cls', 'avg', 'cls\\+avg', 'bag'"),
    (dict(network='ema'), "'teacher', 'student'"),
    (dict(temperature=0.0), 'temperature'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KNNMonitorHook(train_dataloader={}, val_dataloader={}, **kwargs)
