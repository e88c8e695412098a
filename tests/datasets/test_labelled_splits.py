"""LabelledSplits: split tags in data samples, and its consistency checks."""
import pytest

import cmd_plugin  # noqa: F401
from conftest import write_cub_layout
from mmpretrain.registry import DATASETS

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]


def build(root, pipeline=PIPELINE, train=None, test=None, **kwargs):
    split = dict(type='CUB', data_root=str(root), pipeline=pipeline)
    return DATASETS.build(
        dict(
            type='LabelledSplits',
            train=dict(split, split='train', **(train or {})),
            test=dict(split, split='test', **(test or {})),
            **kwargs))


def set_split_flags(root, flags):
    """Rewrite train_test_split.txt: one 1 (train) / 0 (test) per image."""
    (root / 'train_test_split.txt').write_text(''.join(
        f'{i} {flag}\n' for i, flag in enumerate(flags, 1)))


def test_samples_carry_their_split(tiny_cub):
    dataset = build(tiny_cub)
    assert len(dataset) == 12  # 6 train + 6 test images
    splits = [dataset[i]['data_samples'].split for i in range(len(dataset))]
    assert splits == ['train'] * 6 + ['test'] * 6
    assert dataset.get_data_info(11)['split'] == 'test'
    assert dataset[11]['data_samples'].gt_label.item() == 2
    assert dataset.metainfo['classes'][2] == 'Sooty_Albatross'  # CUB's


def test_empty_test_split(tmp_path):
    root = write_cub_layout(tmp_path, num_classes=2, per_class=2)
    set_split_flags(root, [1, 1, 1, 1])
    # mmengine cannot serialise an empty data list
    with pytest.raises(ValueError, match='cannot load the test split'):
        build(root)
    with pytest.raises(ValueError, match='the test split is empty'):
        build(root, test=dict(serialize_data=False))


def test_test_classes_absent_from_train_are_named(tmp_path):
    root = write_cub_layout(tmp_path, num_classes=3, per_class=2)
    set_split_flags(root, [1, 0, 1, 0, 0, 0])  # class 3 only in test
    with pytest.raises(ValueError,
                       match=r"1 test classes .*\['Sooty_Albatross'\]"):
        build(root)
    # lazy_init defers the check to the first use
    lazy = build(root, lazy_init=True)
    with pytest.raises(ValueError, match='absent from the train split'):
        len(lazy)


def test_different_class_lists(tiny_cub):
    with pytest.raises(ValueError, match="class 2: 'c' \\(train\\) vs 'x'"):
        build(tiny_cub, train=dict(classes=['a', 'b', 'c']),
              test=dict(classes=['a', 'b', 'x']))


def test_pipeline_must_pack_a_data_sample(tiny_cub):
    dataset = build(tiny_cub, pipeline=[dict(type='LoadImageFromFile')])
    with pytest.raises(TypeError, match='train pipeline .*PackInputs|'
                       'PackInputs.*train pipeline'):
        dataset[0]
