import mmcv
import numpy as np
import pytest

from cmd_plugin.datasets.transforms import CMDMultiCrop


def geometric_only(**kwargs):
    """No photometric augmentation, so that every crop is its box."""
    return CMDMultiCrop(global_size=48, num_local=4, local_size=24,
                        global_pipelines=[[], []], local_pipeline=[],
                        interpolation='nearest', **kwargs)


def test_crops_boxes_and_flips():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    # the crops draw from numpy's global generator; this seed flips a
    # global and two local crops and leaves the others unflipped, so both
    # branches of the comparison below run
    np.random.seed(3)
    out = geometric_only()(dict(img=img))
    crops = out['img']
    assert [c.shape for c in crops] == [(48, 48, 3)] * 2 + [(24, 24, 3)] * 4
    boxes, flips = out['crop_boxes'], out['crop_flips']
    assert boxes.shape == (6, 4) and flips.shape == (6, )
    assert flips.tolist() == [False, True, False, True, True, False]
    # the box areas lie in the scale ranges (DINO's defaults), up to the
    # rounding of the box sides to whole pixels
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (
        90 * 120)
    assert ((area[:2] > 0.25 * 0.95) & (area[:2] <= 1)).all(), area
    assert ((area[2:] > 0.05 * 0.95) & (area[2:] < 0.25 * 1.05)).all(), area
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 120).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 90).all()
    # without photometric augmentation a crop is exactly its box, resized
    # and flipped as recorded
    for crop, (x1, y1, x2, y2), flip in zip(crops, boxes.astype(int), flips):
        ref = mmcv.imresize(img[y1:y2, x1:x2], crop.shape[1::-1],
                            interpolation='nearest')
        if flip:
            ref = mmcv.imflip(ref)
        assert np.array_equal(crop, ref)


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
def test_flip_probability_zero_and_one(flip_prob):
    img = np.random.default_rng(2).integers(0, 256, (40, 50, 3), np.uint8)
    np.random.seed(0)
    out = geometric_only(flip_prob=flip_prob)(dict(img=img))
    assert out['crop_flips'].tolist() == [bool(flip_prob)] * 6
    x1, y1, x2, y2 = out['crop_boxes'][0].astype(int)
    ref = mmcv.imresize(img[y1:y2, x1:x2], (48, 48), interpolation='nearest')
    assert np.array_equal(out['img'][0], ref[:, ::-1] if flip_prob else ref)


def test_default_dino_photometric_runs():
    img = np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)
    out = CMDMultiCrop(global_size=32, local_size=16, num_local=2)(
        dict(img=img))
    assert len(out['img']) == 4 and out['img'][0].dtype == np.uint8


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_local=4, local_size=None), 'local_size'),
    (dict(global_scale=(0.5, 0.2)), 'global_scale'),
    (dict(num_local=-1), 'num_local'),
    (dict(flip_prob=2.0), 'flip_prob'),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CMDMultiCrop(**kwargs)
