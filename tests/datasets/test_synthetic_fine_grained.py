"""Tests of the generated fine-grained dataset."""
from typing import Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from cmd_plugin.datasets import SyntheticFineGrained
from mmpretrain.registry import DATASETS


def small(**kwargs) -> SyntheticFineGrained:
    """A 3-class, 4-per-class, 32 px dataset, with overrides."""
    args = dict(num_classes=3, num_per_class=4, image_size=32)
    return SyntheticFineGrained(**{**args, **kwargs})


def test_same_seed_same_pixels_other_seed_or_split_differs():
    a, b = small(seed=3), small(seed=3)
    for idx in range(len(a)):
        np.testing.assert_array_equal(a[idx]['img'], b[idx]['img'])
    other_seed, test = small(seed=4), small(seed=3, split='test')
    for idx in range(len(a)):
        assert not np.array_equal(a[idx]['img'], other_seed[idx]['img'])
        assert not np.array_equal(a[idx]['img'], test[idx]['img'])


def test_images_do_not_depend_on_dataset_size_or_subset():
    base = small()
    bigger = small(num_classes=5, num_per_class=6)
    subset = small(indices=[7, 2])
    # image k of class c is the same whatever the size of the dataset
    np.testing.assert_array_equal(base[5]['img'], bigger[6 + 1]['img'])
    np.testing.assert_array_equal(base[7]['img'], subset[0]['img'])
    assert len(subset) == 2 and subset[1]['gt_label'] == base[2]['gt_label']


def test_results_look_like_load_image_from_file():
    dataset = small(image_size=40)
    assert len(dataset) == 12
    results = dataset[5]
    assert results['img'].shape == (40, 40, 3)
    assert results['img'].dtype == np.uint8
    assert results['img_shape'] == results['ori_shape'] == (40, 40)
    assert results['gt_label'] == 1 and results['sample_idx'] == 5
    assert dataset.get_gt_labels().tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert dataset.get_cat_ids(11) == [2]


def test_render_gives_the_class_parts_inside_the_image():
    dataset = small(num_parts=3)
    img, parts = dataset.render(9)
    np.testing.assert_array_equal(img, dataset[9]['img'])
    assert [(p.shape, p.colour) for p in parts] == list(dataset.class_parts[2])
    for part in parts:
        x1, y1, x2, y2 = part.box
        assert 0 <= x1 < x2 <= 32 and 0 <= y1 < y2 <= 32


def test_images_are_bgr():
    # one part per image and every part type as a class: check the
    # dominant channel at the centre of each solid red / green / blue part
    dataset = small(num_parts=1, num_classes=40, num_per_class=1)
    channel = dict(blue=0, green=1, red=2)  # BGR
    checked = 0
    for idx in range(len(dataset)):
        img, (part, ) = dataset.render(idx)
        if part.colour in channel and part.shape != 'ring':
            x1, y1, x2, y2 = part.box
            centre = img[(y1 + y2) // 2, (x1 + x2) // 2]
            assert centre.argmax() == channel[part.colour], (part, centre)
            checked += 1
    assert checked == 12  # 3 colours x 4 solid shapes


def test_classes_metainfo():
    dataset = small()
    assert dataset.metainfo['classes'] == ('part_00', 'part_01', 'part_02')
    assert dataset.class_to_idx['part_02'] == 2
    named = small(metainfo=dict(classes=('a', 'b', 'c')))
    assert named.CLASSES == ('a', 'b', 'c')
    assert len(set(small(num_classes=50).class_parts)) == 50
    with pytest.raises(ValueError, match='has 2 names'):
        small(metainfo=dict(classes=('a', 'b')))


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='val'), "SyntheticFineGrained.split: unknown value 'val'"),
    (dict(num_classes=1), 'num_classes'),
    (dict(num_parts=1, num_classes=41), r'num_classes: must be .*\[2, 40\]'),
    (dict(num_parts=4), 'num_parts'),
    (dict(num_per_class=0), 'num_per_class'),
    (dict(image_size=16), 'image_size'),
    (dict(num_distractors=-1), 'num_distractors'),
    (dict(seed=-1), 'seed'),
    (dict(seed=1.5), 'seed'),
    (dict(background_contrast=1.5), 'background_contrast'),
    (dict(part_size=(0.2, 0.5)), r'part_size: must be \(low, high\)'),
    (dict(part_size=0.2), 'part_size'),
])
def test_invalid_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small(**kwargs)


def test_builds_from_registry_with_an_mmpretrain_pipeline():
    dataset = DATASETS.build(
        dict(
            type='SyntheticFineGrained',
            num_classes=3,
            num_per_class=2,
            image_size=48,
            pipeline=[
                dict(type='RandomResizedCrop', scale=32),
                dict(type='PackInputs')
            ]))
    packed = dataset[3]
    assert packed['inputs'].shape == (3, 32, 32)
    assert packed['inputs'].dtype == torch.uint8
    assert packed['data_samples'].gt_label.tolist() == [1]
    assert packed['data_samples'].ori_shape == (48, 48)


def features(dataset: SyntheticFineGrained) -> Tuple[np.ndarray, np.ndarray]:
    """Two views of every image.

    Returns:
        tuple[np.ndarray, np.ndarray]: Key-part features ``(n, 108)``: the
        sum over an image's key parts of its pixels in the part's box,
        box-resized to 6 x 6 (so the order of the parts does not matter);
        and global colour statistics ``(n, 6)``: the per-channel mean and
        std of the whole image.
    """
    parts = np.zeros((len(dataset), 6 * 6 * 3))
    colour = np.zeros((len(dataset), 6))
    for idx in range(len(dataset)):
        img, key_parts = dataset.render(idx)
        for x1, y1, x2, y2 in (part.box for part in key_parts):
            crop = Image.fromarray(img[y1:y2, x1:x2]).resize((6, 6),
                                                             Image.BOX)
            parts[idx] += np.asarray(crop, dtype=np.float64).ravel() / 255
        pixels = img.reshape(-1, 3).astype(np.float64)
        colour[idx] = np.concatenate([pixels.mean(0), pixels.std(0)])
    return parts, colour


def logistic_regression_accuracy(train: np.ndarray, train_labels: np.ndarray,
                                 test: np.ndarray,
                                 test_labels: np.ndarray) -> float:
    """Fit an L2-regularised softmax regression on standardised features
    and return its test accuracy."""
    mean, std = train.mean(0), train.std(0) + 1e-8
    x_train = torch.as_tensor((train - mean) / std, dtype=torch.float32)
    x_test = torch.as_tensor((test - mean) / std, dtype=torch.float32)
    y_train = torch.as_tensor(train_labels)
    torch.manual_seed(0)
    linear = torch.nn.Linear(x_train.shape[1], int(train_labels.max()) + 1)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x_train), y_train)
        loss = loss + 1e-3 * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = linear(x_test).argmax(1).numpy()
    return float((predicted == test_labels).mean())


def test_key_parts_decide_the_class_global_colour_does_not():
    num_classes = 10
    splits = [
        SyntheticFineGrained(
            split=split, num_classes=num_classes, num_per_class=30, seed=0)
        for split in ('train', 'test')
    ]
    (train_parts, train_colour), (test_parts, test_colour) = (
        features(split) for split in splits)
    train_labels, test_labels = (split.get_gt_labels() for split in splits)
    parts = logistic_regression_accuracy(train_parts, train_labels,
                                         test_parts, test_labels)
    colour = logistic_regression_accuracy(train_colour, train_labels,
                                          test_colour, test_labels)
    chance = 1 / num_classes
    assert parts > 0.9, parts
    assert colour < 2 * chance, colour


def outside_parts(dataset: SyntheticFineGrained, idx: int) -> np.ndarray:
    """Image ``idx`` as float with its key parts' boxes masked (NaN)."""
    image, parts = dataset.render(idx)
    image = image.astype(np.float64)
    for x1, y1, x2, y2 in (part.box for part in parts):
        image[y1:y2, x1:x2] = np.nan
    return image


def test_background_contrast_and_part_size():
    """Contrast 0 leaves a flat grey background (pixel noise only) without
    moving anything; part sides stay within ``part_size``."""
    flat = small(image_size=48, background_contrast=0.0, num_distractors=0)
    full = small(image_size=48, num_distractors=0)
    for idx in range(3):
        grey, full_img = outside_parts(flat, idx), outside_parts(full, idx)
        # noise (std 8) and illumination (x0.8-1.2 per channel) remain
        assert np.nanstd(grey) < 0.6 * np.nanstd(full_img)
        assert ([p.box for p in flat.render(idx)[1]] ==
                [p.box for p in full.render(idx)[1]])
    big = small(image_size=64, part_size=(0.3, 0.33))
    for idx in range(len(big)):
        for x1, y1, x2, y2 in (part.box for part in big.render(idx)[1]):
            assert 0.3 * 64 <= x2 - x1 <= 0.33 * 64 + 2
