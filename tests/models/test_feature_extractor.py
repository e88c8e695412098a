"""CMDFeatureExtractor: network selection, strict loading, test loop."""
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from cmd_checkpoints import TINY_NECK, TINY_VIT, save_cmd_checkpoint
from conftest import write_cub_layout
from mmpretrain.registry import MODELS
from reference_metrics import collect_features, expected_metrics


def build(**kwargs):
    cfg = dict(type='CMDFeatureExtractor', backbone=TINY_VIT, neck=TINY_NECK)
    return MODELS.build({**cfg, **kwargs})


def assert_same_weights(module, reference):
    ours, theirs = module.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], msg=key)


@pytest.fixture(scope='module')
def cmd_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_3.pth'
    return path, save_cmd_checkpoint(path)


def test_load_from_picks_the_teacher(cmd_ckpt):
    path, cmd = cmd_ckpt
    model = build(feature='bag')
    # what runner.load_checkpoint (load_from) does: strict=False
    load_checkpoint(model, str(path), strict=False)
    assert model.weights_loaded
    assert_same_weights(model.backbone, cmd.teacher.backbone)
    assert_same_weights(model.neck, cmd.teacher.neck)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = cmd.teacher.neck(cmd.teacher.backbone(images)).bag
        torch.testing.assert_close(model(images), expected)


def test_student_network_via_torch_load_state_dict(cmd_ckpt):
    path, cmd = cmd_ckpt
    model = build(network='student')
    model.load_state_dict(cmd.state_dict())
    assert_same_weights(model.backbone, cmd.backbone)
    assert_same_weights(model.neck, cmd.neck)
    assert not torch.equal(model.backbone.cls_token,
                           cmd.teacher.backbone.cls_token)


def test_backbone_only_checkpoint(cmd_ckpt):
    _, cmd = cmd_ckpt
    model = build(neck=None, feature='cls+avg')
    model.load_state_dict(cmd.teacher.backbone.state_dict())
    assert_same_weights(model.backbone, cmd.teacher.backbone)
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        tokens = cmd.teacher.backbone(images)[-1]
        expected = torch.cat([tokens[:, 0], tokens[:, 1:].mean(1)], dim=1)
        torch.testing.assert_close(model(images), expected)
    assert model(images).shape == (3, 64)


def test_checkpoint_without_backbone_fails(cmd_ckpt, tmp_path):
    _, cmd = cmd_ckpt
    heads_only = {k: v for k, v in cmd.state_dict().items()
                  if k.startswith('head.')}
    path = tmp_path / 'head_only.pth'
    torch.save({'state_dict': heads_only}, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(build(), str(path), strict=False)
    message = str(info.value)
    assert "unexpected keys 'backbone.head." in message
    assert "missing keys 'backbone.cls_token'" in message
    assert 'model.backbone' in message


def test_mismatched_backbone_fails_with_first_keys(cmd_ckpt):
    path, _ = cmd_ckpt
    deeper = dict(TINY_VIT, arch=dict(TINY_VIT['arch'], num_layers=3))
    with pytest.raises(ValueError,
                       match="missing keys 'backbone.layers.2.ln1.weight'"):
        load_checkpoint(build(backbone=deeper), str(path), strict=False)
    wider = dict(TINY_VIT, arch=dict(TINY_VIT['arch'], embed_dims=48))
    with pytest.raises(ValueError, match='shape mismatches backbone.cls_token'):
        load_checkpoint(
            build(backbone=wider, neck=None), str(path), strict=False)


def test_teacher_requested_from_a_single_network_checkpoint(cmd_ckpt):
    _, cmd = cmd_ckpt
    classifier_like = {k: v for k, v in cmd.state_dict().items()
                       if not k.startswith('teacher.')}
    with pytest.raises(ValueError, match="Set model.network='student'"):
        build().load_state_dict(classifier_like)


def test_neck_missing_from_checkpoint_names_model_neck(cmd_ckpt):
    _, cmd = cmd_ckpt
    with pytest.raises(ValueError, match='set model.neck=None'):
        build().load_state_dict(cmd.teacher.backbone.state_dict())


def test_predict_refuses_random_weights():
    images = torch.randn(2, 3, 32, 32)
    with pytest.raises(RuntimeError, match='allow_random_weights'):
        build().predict(images)
    samples = build(allow_random_weights=True).predict(images)
    assert [s.feature.shape for s in samples] == [(32, ), (32, )]


@pytest.mark.parametrize('kwargs, message', [
    (dict(feature='mean'), "model.feature: unknown value 'mean'.*'cls'"),
    (dict(feature='bag', neck=None), 'needs the MIL neck'),
    (dict(network='ema'),
     "model.network: unknown value 'ema'.*'teacher', 'student'"),
])
def test_bad_config_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_runner_test_loop_reports_every_metric(cmd_ckpt, tmp_path):
    path, _ = cmd_ckpt
    # plain-noise images: no class colour, metrics between 0 and 100
    tiny_cub = write_cub_layout(tmp_path, class_colour=False)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=36, edge='short'),
        dict(type='CenterCrop', crop_size=32),
        dict(type='PackInputs'),
    ]
    split = dict(type='CUB', data_root=str(tiny_cub), pipeline=pipeline)
    cfg = Config(
        dict(
            default_scope='mmpretrain',
            work_dir=str(tmp_path),
            model=dict(
                type='CMDFeatureExtractor',
                backbone=TINY_VIT,
                neck=TINY_NECK,
                feature='bag',
                data_preprocessor=dict(
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    to_rgb=True)),
            test_dataloader=dict(
                batch_size=4,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(
                    type='LabelledSplits',
                    train=dict(split, split='train'),
                    test=dict(split, split='test'))),
            test_evaluator=[
                dict(type='FineGrainedRetrieval'),
                dict(type='FineGrainedRetrieval', protocol='cmd_official'),
                dict(type='KNNAccuracy'),
            ],
            test_cfg=dict(),
            load_from=str(path),
            log_level='WARNING'))
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert {'retrieval/loo/rank1', 'retrieval/loo/mAP',
            'retrieval/cmd_official/mAP@100', 'knn/top1'} <= set(metrics)

    # the same numbers from the loaded model's features, recomputed with
    # plain loops
    feats, labels, splits = collect_features(runner.model,
                                             runner.test_dataloader)
    assert splits.count('train') == splits.count('test') == 6
    for key, value in expected_metrics(feats, labels, splits).items():
        assert metrics[key] == pytest.approx(value, abs=1e-4), key
    assert 0 < metrics['retrieval/loo/mAP'] < 100
