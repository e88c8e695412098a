"""ResizeForDeviceCrops: the loader's half of the device multi-crop path."""
import time

import cv2
import numpy as np
import pytest

from cmd_plugin.datasets.transforms import ResizeForDeviceCrops
from mmpretrain.registry import TRANSFORMS


@pytest.mark.parametrize('shape', [(375, 500, 3), (500, 375, 3), (20, 14, 3),
                                   (60, 40), (60, 40, 1), (60, 40, 4)])
def test_any_image_becomes_one_square_and_records_its_frame(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = ResizeForDeviceCrops(size=64)(dict(img=img, ori_shape=(1, 1)))
    assert out['img'].shape == (64, 64, 3)
    assert out['img'].dtype == np.uint8
    assert out['img'].flags['C_CONTIGUOUS']
    assert out['img_shape'] == (64, 64)
    # the frame of the crop boxes: the image as this transform got it
    assert out['ori_shape'] == shape[:2]


def test_gray_is_repeated_and_alpha_dropped():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    out = ResizeForDeviceCrops(size=64)(dict(img=gray))['img']
    assert all(np.array_equal(out[..., c], gray) for c in range(3))
    bgra = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    out = ResizeForDeviceCrops(size=64)(dict(img=bgra))['img']
    assert np.array_equal(out, bgra[..., :3])


def test_interpolation_auto_averages_large_shrinks():
    # a 1-pixel checkerboard shrunk 4 times: bilinear samples pixels (and
    # keeps the extremes), area averaging gives the mean
    board = ((np.indices((256, 256)).sum(0) % 2) * 255).astype(np.uint8)
    img = np.repeat(board[..., None], 3, axis=2)
    auto = ResizeForDeviceCrops(size=64)(dict(img=img))['img']
    assert np.abs(auto.astype(float) - 127.5).max() <= 1
    mild = ResizeForDeviceCrops(size=200)._flag(256, 256)
    assert mild == cv2.INTER_LINEAR
    assert ResizeForDeviceCrops(size=64, interpolation='bilinear')._flag(
        256, 256) == cv2.INTER_LINEAR


def test_unknown_interpolation_lists_the_valid_ones():
    with pytest.raises(ValueError,
                       match="ResizeForDeviceCrops.interpolation: unknown "
                       "value 'cubic'. Valid choices are \\['auto', "
                       "'bilinear', 'area'\\]"):
        TRANSFORMS.build(dict(type='ResizeForDeviceCrops',
                              interpolation='cubic'))
    with pytest.raises(ValueError, match='ResizeForDeviceCrops.size'):
        ResizeForDeviceCrops(size=0)


def test_cheap_next_to_the_cpu_multi_crop():
    """The loader's work per image is a resize, not 12 crops: a loose
    guard (the measured figures are in docs/benchmarks.md)."""
    img = np.random.default_rng(0).integers(0, 256, (375, 500, 3), np.uint8)
    resize = ResizeForDeviceCrops(size=384)
    resize(dict(img=img))
    start = time.process_time()
    for _ in range(20):
        resize(dict(img=img))
    assert (time.process_time() - start) / 20 < 0.02
