"""CMDMultiCropPreprocessor: CMDMultiCrop's augmentation, made on the device.

Distribution agreement with ``CMDMultiCrop`` is tested by two-sample tests
on a few thousand draws: the box parameters and every random decision and
factor are drawn without pixels (``sample_params`` against the CPU path's
own ``rand_crop_params`` / ``_rand_params`` / ``random_*`` calls), the
photometric statistics on a small image. The seeds are fixed, so the tests
are deterministic; each asserts ``p > P_MIN``.
"""
import math
import random
import warnings

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from PIL import Image, ImageFilter

from cmd_plugin.datasets.transforms import CMDMultiCrop, ResizeForDeviceCrops
from cmd_plugin.models.utils.cmd_multi_crop_preprocessor import (
    CMDMultiCropPreprocessor, mmcv_grayscale, pil_box_kernels,
    pil_gaussian_blur, pil_luma, pil_shift_hue)
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

P_MIN = 1e-3
N = 2000
NONE = dict(color_jitter_prob=0., grayscale_prob=0., blur_prob=0.,
            solarize_prob=0.)
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def ks_pvalue(a, b) -> float:
    """Two-sample Kolmogorov-Smirnov test, asymptotic p-value."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    both = np.concatenate([a, b])
    d = np.max(np.abs(np.searchsorted(a, both, side='right') / len(a) -
                      np.searchsorted(b, both, side='right') / len(b)))
    en = math.sqrt(len(a) * len(b) / (len(a) + len(b)))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam == 0:
        return 1.0
    p = 2 * sum((-1)**(k - 1) * math.exp(-2 * k * k * lam * lam)
                for k in range(1, 101))
    return float(min(max(p, 0.0), 1.0))


def rates_pvalue(a, b) -> float:
    """Two-proportion z-test (two-sided) of boolean samples."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = (a.sum() + b.sum()) / (len(a) + len(b))
    if pooled in (0.0, 1.0):
        return 1.0 if a.mean() == b.mean() else 0.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    return math.erfc(abs(a.mean() - b.mean()) / se / math.sqrt(2))


def chi2_pvalue(a, b, k: int) -> float:
    """Chi-square two-sample test of categorical samples in ``range(k)``
    (Wilson-Hilferty approximation of the chi-square tail)."""
    ca, cb = np.bincount(a, minlength=k), np.bincount(b, minlength=k)
    keep = (ca + cb) > 0
    ca, cb = ca[keep], cb[keep]
    na, nb = ca.sum(), cb.sum()
    stat = sum((math.sqrt(nb / na) * x - math.sqrt(na / nb) * y)**2 / (x + y)
               for x, y in zip(ca, cb))
    dof = len(ca) - 1
    z = ((stat / dof)**(1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 /
                                                                 (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def build(**kwargs) -> CMDMultiCropPreprocessor:
    return MODELS.build(dict(type='CMDMultiCropPreprocessor', **kwargs))


def frames(h: int, w: int, n: int = N) -> torch.Tensor:
    return torch.tensor([[h, w]] * n, dtype=torch.float64)


def box_features(boxes: np.ndarray, h: int, w: int) -> dict:
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return dict(area=bw * bh / (h * w), log_ratio=np.log(bw / bh),
                cx=(boxes[:, 0] + boxes[:, 2]) / 2 / w,
                cy=(boxes[:, 1] + boxes[:, 3]) / 2 / h)


@pytest.fixture(scope='module')
def cpu_path() -> CMDMultiCrop:
    # DINO's defaults, as the preprocessor's; tiny outputs (the boxes do not
    # depend on them) keep the CPU path's resizes cheap
    return CMDMultiCrop(global_size=4, local_size=2)


# ---------------------------------------------------------------------------
# distributions: parameters, no pixels


@pytest.mark.parametrize('h, w', [(375, 500), (100, 400), (24, 20)])
def test_boxes_and_flips_match_cmd_multi_crop(cpu_path, h, w):
    """Area, aspect ratio, position and flips of global and local crops.

    (100, 400) makes most global candidates too tall: the central-crop
    fallback; (24, 20) is smaller than the crops it is resized to.
    """
    np.random.seed(0)
    image = np.zeros((h, w, 3), np.uint8)
    identity = lambda results: results  # noqa: E731  (no photometrics)
    device = build(seed=0).sample_params(frames(h, w))
    for name, cropper, v in (('global', cpu_path.global_crop, 0),
                             ('local', cpu_path.local_crop, 2)):
        cpu = [cpu_path._crop(image, cropper, identity) for _ in range(N)]
        cpu_boxes = np.array([box for _, box, _ in cpu], float)
        cpu_flips = np.array([flip for _, _, flip in cpu])
        dev_boxes = device.boxes[v * N:(v + 1) * N].numpy()
        dev_flips = device.flips[v * N:(v + 1) * N].numpy()
        assert np.array_equal(dev_boxes, np.round(dev_boxes))
        assert (dev_boxes[:, :2] >= 0).all()
        assert (dev_boxes[:, 2] <= w).all() and (dev_boxes[:, 3] <= h).all()
        cpu_f, dev_f = box_features(cpu_boxes, h, w), box_features(
            dev_boxes, h, w)
        for key in cpu_f:
            assert ks_pvalue(cpu_f[key], dev_f[key]) > P_MIN, (name, key)
        assert rates_pvalue(cpu_flips, dev_flips) > P_MIN, name


def cpu_photometric_draws(pipeline, n: int) -> dict:
    """The random decisions and factors of a CPU photometric pipeline."""
    apply, gray, blur = pipeline.transforms[:3]
    solarize = pipeline.transforms[3] if len(pipeline.transforms) > 3 \
        else None
    jitter = apply.transforms.transforms[0]
    out = {k: [] for k in ('jitter', 'b', 'c', 's', 'h', 'first', 'gray',
                           'blur', 'sigma', 'solarize')}
    for _ in range(n):
        out['jitter'].append(apply.random_apply())
        order, b, c, s, h = jitter._rand_params()
        out['first'].append(order[0])
        for key, value in zip('bcsh', (b, c, s, h)):
            out[key].append(value)
        out['gray'].append(gray._random_prob() < gray.prob)
        out['blur'].append(not blur.random_disable())
        out['sigma'].append(blur.random_magnitude())
        out['solarize'].append(
            solarize is not None and not solarize.random_disable())
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize('crop', [0, 1, 2])
def test_photometric_decisions_match_cmd_multi_crop(cpu_path, crop):
    """Per-operation rates and factor distributions, per crop position
    (0, 1: DINO's two global pipelines; 2: the local one)."""
    np.random.seed(crop)
    random.seed(crop)
    pipelines = cpu_path.global_pipelines + [cpu_path.local_pipeline]
    cpu = cpu_photometric_draws(pipelines[crop], N)
    p = build(seed=crop).sample_params(frames(100, 100))
    rows = slice(crop * N, (crop + 1) * N)
    dev = dict(jitter=p.jitter[rows], gray=p.grayscale[rows],
               blur=p.blur[rows], solarize=p.solarize[rows])
    for key in dev:
        assert rates_pvalue(cpu[key], dev[key].numpy()) > P_MIN, key
    for i, key in enumerate('bcsh'):
        assert ks_pvalue(cpu[key], p.factors[rows, i]) > P_MIN, key
    assert ks_pvalue(cpu['sigma'], p.sigma[rows]) > P_MIN
    # the jitter's order: which operation comes first
    assert chi2_pvalue(cpu['first'], p.order[rows, 0].numpy(), 4) > P_MIN
    expected = {0: (1.0, 0.0), 1: (0.1, 0.2), 2: (0.5, 0.0)}[crop]
    assert abs(dev['blur'].float().mean() - expected[0]) < 0.05
    assert abs(dev['solarize'].float().mean() - expected[1]) < 0.05


def test_photometric_statistics_match_cmd_multi_crop(cpu_path):
    """Pixel statistics of DINO's photometrics on one small image: the first
    global pipeline (jitter, grayscale, blur always) and the second (blur
    0.1, solarisation 0.2)."""
    warnings.filterwarnings('ignore', message="Only use 'alpha'")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:12, 0:12]
    img = np.stack([xx * 20, yy * 20, 255 - (xx + yy) * 10], -1)
    img = np.clip(img + rng.integers(-30, 30, img.shape), 0, 255).astype(
        np.uint8)  # BGR
    img[3:7, 3:7] = (30, 200, 90)
    np.random.seed(0)
    random.seed(0)
    n = 1500
    preprocessor = build(seed=0, num_local=0)
    p = preprocessor.sample_params(frames(12, 12, n))
    x = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).float()

    def stats(rgb: np.ndarray) -> dict:
        g = rgb.astype(np.float64)
        return dict(r=g[..., 0].mean((1, 2)), g=g[..., 1].mean((1, 2)),
                    b=g[..., 2].mean((1, 2)), std=g.std((1, 2, 3)),
                    chroma=(g.max(-1) - g.min(-1)).mean((1, 2)),
                    grad=np.abs(np.diff(g, axis=2)).mean((1, 2, 3)),
                    bright=(g >= 128).mean((1, 2, 3)))

    for crop in (0, 1):
        pipeline = cpu_path.global_pipelines[crop]
        cpu = np.stack([
            pipeline(dict(img=img.copy(), img_shape=(12, 12)))['img']
            for _ in range(n)
        ])[..., ::-1]
        dev = preprocessor.augment(x[None].repeat(n, 1, 1, 1), p,
                                   range(crop * n, (crop + 1) * n))
        dev = dev.permute(0, 2, 3, 1).numpy()
        cpu_s, dev_s = stats(cpu), stats(dev)
        for key in cpu_s:
            assert ks_pvalue(cpu_s[key], dev_s[key]) > P_MIN, (crop, key)


# ---------------------------------------------------------------------------
# the 8-bit operations against PIL / mmcv, pixel by pixel


@pytest.fixture(scope='module')
def noise():
    bgr = np.random.default_rng(1).integers(0, 256, (19, 23, 3), np.uint8)
    rgb = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float()
    return bgr, rgb[None]


def as_bgr(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).numpy()[..., ::-1].astype(np.int64)


def test_luma_grayscale_and_hue_are_pils_to_the_bit(noise):
    bgr, rgb = noise
    luma = np.asarray(Image.fromarray(bgr[..., ::-1].copy()).convert('L'))
    assert np.array_equal(pil_luma(rgb)[0, 0].numpy(), luma)
    gray = TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.0,
                                 keep_channels=True))(dict(img=bgr.copy()))
    assert np.array_equal(as_bgr(mmcv_grayscale(rgb)), gray['img'])
    for hue in (-0.1, -0.037, 0.0, 0.05, 0.1):
        shift = torch.tensor([float(np.uint8(hue * 255))])
        expected = mmcv.adjust_hue(bgr, hue, backend='pillow')
        assert np.array_equal(as_bgr(pil_shift_hue(rgb, shift)), expected)


def test_blur_is_pils_box_blur(noise):
    """PIL's three box passes with replicated edges; float32 weights round
    a few pixels the other way."""
    bgr, rgb = noise
    for sigma in (0.1, 0.5, 1.0, 1.7, 2.0):
        expected = np.asarray(
            Image.fromarray(bgr).filter(ImageFilter.GaussianBlur(sigma)))
        kernel = pil_box_kernels(torch.tensor([sigma]))
        got = as_bgr(pil_gaussian_blur(rgb, kernel))
        diff = np.abs(got - expected)
        assert diff.max() <= 2 and diff.mean() < 0.4, sigma


@pytest.mark.parametrize('op, enhance', [
    (0, lambda img, f: mmcv.adjust_brightness(img, f, backend='pillow')),
    (1, lambda img, f: mmcv.adjust_contrast(img, f, backend='pillow')),
    (2, lambda img, f: mmcv.adjust_color(img, alpha=f, backend='pillow')),
])
def test_jitter_blends_are_pils_to_the_bit(noise, op, enhance):
    warnings.filterwarnings('ignore', message="Only use 'alpha'")
    bgr, rgb = noise
    preprocessor = build(seed=0, num_local=0, global_photometric=[NONE])
    p = preprocessor.sample_params(frames(19, 23, 1))
    for factor in (0.6, 0.87, 1.0, 1.23, 1.4):
        factors = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
        factors[0, op] = factor
        q = p._replace(jitter=torch.tensor([True]), factors=factors,
                       order=torch.tensor([[op, -1, -1, -1]]),
                       flips=torch.tensor([False]))
        got = preprocessor.augment(rgb.clone(), q, range(1))
        assert np.array_equal(as_bgr(got), enhance(bgr, factor)), factor


# ---------------------------------------------------------------------------
# geometry: boxes agree with pixels


def ramp_batch(shapes, size: int = 64, dtype=np.float32):
    """Images whose R / G channels are their x / y pixel centres, resized
    once by ResizeForDeviceCrops, with their data samples."""
    resize = ResizeForDeviceCrops(size=size)
    images, samples = [], []
    for h, w in shapes:
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.zeros((h, w, 3), dtype)
        img[..., 2], img[..., 1] = xx + 0.5, yy + 0.5  # BGR: R = x, G = y
        out = resize(dict(img=img))
        images.append(torch.from_numpy(out['img']).permute(2, 0, 1))
        samples.append(DataSample(metainfo=dict(ori_shape=out['ori_shape'])))
    return torch.stack(images), samples


def test_planted_coordinates_land_where_the_box_says():
    """Every crop shows the part of the image its box names, mirrored when
    its flip flag is set; a batch of landscape, portrait and tiny images."""
    shapes = [(120, 200), (160, 90), (20, 14)]
    preprocessor = build(seed=3, to_rgb=True, global_size=32,
                         num_local=6, local_size=16,
                         global_photometric=[NONE, NONE],
                         local_photometric=NONE)
    images, samples = ramp_batch(shapes)
    out = preprocessor(dict(inputs=images, data_samples=samples), True)
    flipped = 0
    for b, sample in enumerate(out['data_samples']):
        assert sample.crop_boxes.shape == (8, 4)
        assert sample.crop_boxes.dtype == np.float32
        assert sample.crop_flips.dtype == bool
        for v, (box, flip) in enumerate(zip(sample.crop_boxes,
                                            sample.crop_flips)):
            crop = out['inputs'][v][b].double()  # RGB, normalisation off
            size = crop.shape[-1]
            x1, y1, x2, y2 = box.astype(float)
            centres = (torch.arange(size, dtype=torch.float64) + 0.5) / size
            xs, ys = x1 + centres * (x2 - x1), y1 + centres * (y2 - y1)
            if flip:
                xs = xs.flip(0)
            inner = slice(1, -1)  # the resize clamps at the image's edge
            assert (crop[0][inner, inner] -
                    xs[inner]).abs().max() <= 1.0, (b, v, box, flip)
            assert (crop[1][inner, inner] -
                    ys[inner, None]).abs().max() <= 1.0, (b, v, box, flip)
            flipped += bool(flip)
    assert 0 < flipped < 24


def test_same_box_as_cmd_multi_crop_gives_the_same_crop():
    """A box cut by CMDMultiCrop's resize and by the device path agree
    (bicubic against bilinear on a smooth image: a few levels)."""
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([120 + 100 * np.sin(xx / 9), 120 + 100 * np.cos(yy / 7),
                    (xx + yy)], -1).astype(np.uint8)
    preprocessor = build(seed=0, num_local=0, global_size=40,
                         global_photometric=[NONE], to_rgb=False)
    p = preprocessor.sample_params(frames(h, w, 1))
    left, top, right, bottom = 13, 7, 95, 81
    p = p._replace(boxes=torch.tensor([[left, top, right, bottom]],
                                      dtype=torch.float64),
                   flips=torch.tensor([False]))
    resized = ResizeForDeviceCrops(size=w)(dict(img=img.copy()))['img']
    crops, _ = preprocessor.make_crops(
        torch.from_numpy(resized).permute(2, 0, 1)[None],
        frames(h, w, 1), p)
    device = crops[0][0].permute(1, 2, 0).numpy()[..., ::-1]  # to BGR
    cpu = mmcv.imresize(img[top:bottom, left:right], (40, 40),
                        interpolation='bicubic').astype(float)
    assert np.abs(device - cpu)[2:-2, 2:-2].mean() < 3


# ---------------------------------------------------------------------------
# determinism


def crops_of(preprocessor):
    images, samples = ramp_batch([(50, 60), (60, 50)], dtype=np.uint8)
    data = dict(inputs=images, data_samples=samples)
    out = preprocessor(data, True)
    return ([x.clone() for x in out['inputs']],
            [s.crop_boxes for s in out['data_samples']])


def test_deterministic_under_a_seed():
    kwargs = dict(global_size=24, num_local=2, local_size=12,
                  mean=MEAN, std=STD, to_rgb=True)
    first, boxes = crops_of(build(seed=5, **kwargs))
    again, boxes_again = crops_of(build(seed=5, **kwargs))
    other, boxes_other = crops_of(build(seed=6, **kwargs))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert all(np.array_equal(a, b) for a, b in zip(boxes, boxes_again))
    assert not all(np.array_equal(a, b) for a, b in zip(boxes, boxes_other))
    # reseed starts a stream of its own
    preprocessor = build(**kwargs)
    preprocessor.reseed(5)
    assert all(torch.equal(a, b)
               for a, b in zip(crops_of(preprocessor)[0], first))
    moved_on, _ = crops_of(preprocessor)
    assert not all(torch.equal(a, b) for a, b in zip(moved_on, first))
    preprocessor.reseed(5)
    assert all(torch.equal(a, b)
               for a, b in zip(crops_of(preprocessor)[0], first))
    # without a seed, every batch follows torch's global generator, which
    # EpochSeedHook seeds and a checkpoint inside an epoch records
    unseeded = build(**kwargs)
    torch.manual_seed(1)
    first_batch, _ = crops_of(unseeded)
    second_batch, _ = crops_of(unseeded)
    state = torch.get_rng_state()
    third_batch, _ = crops_of(unseeded)
    torch.manual_seed(1)
    assert all(torch.equal(a, b)
               for a, b in zip(crops_of(build(**kwargs))[0], first_batch))
    assert not all(torch.equal(a, b)
                   for a, b in zip(first_batch, second_batch))
    torch.set_rng_state(state)
    assert all(torch.equal(a, b)
               for a, b in zip(crops_of(unseeded)[0], third_batch))


# ---------------------------------------------------------------------------
# inputs: sizes, channels, collation


def test_output_structure_matches_cmd_multi_crop():
    preprocessor = build(seed=0, mean=MEAN, std=STD, to_rgb=True,
                         global_size=32, num_local=3, local_size=16)
    images = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    samples = [DataSample(metainfo=dict(ori_shape=(30, 50)))
               for _ in range(2)]
    out = preprocessor(dict(inputs=images, data_samples=samples), True)
    assert [tuple(x.shape) for x in out['inputs']] == \
        [(2, 3, 32, 32)] * 2 + [(2, 3, 16, 16)] * 3
    assert all(x.dtype == torch.float32 for x in out['inputs'])
    boxes = np.stack([s.crop_boxes for s in out['data_samples']])
    assert boxes.shape == (2, 5, 4)
    assert (boxes[..., 2] <= 50).all() and (boxes[..., 3] <= 30).all()
    # normalised: about zero mean, unit scale
    assert abs(float(torch.cat([x.flatten() for x in out['inputs']]).mean())
               ) < 1.0
    assert preprocessor.crop_sizes == [32, 32, 16, 16, 16]


def test_grayscale_rgba_and_mixed_sizes():
    """1- and 4-channel tensors, and a list of images of different sizes
    (pseudo_collate) in one batch."""
    preprocessor = build(seed=0, global_size=16, num_local=2, local_size=8)
    gray = torch.randint(0, 256, (1, 20, 30), dtype=torch.uint8)
    rgba = torch.randint(0, 256, (4, 33, 21), dtype=torch.uint8)
    rgb = torch.randint(0, 256, (3, 20, 30), dtype=torch.uint8)
    samples = [DataSample() for _ in range(3)]
    out = preprocessor(dict(inputs=[gray, rgba, rgb], data_samples=samples),
                       True)
    assert [tuple(x.shape) for x in out['inputs']] == \
        [(3, 3, 16, 16)] * 2 + [(3, 3, 8, 8)] * 2
    # no ori_shape: boxes in the input's own pixels
    boxes = out['data_samples'][1].crop_boxes
    assert (boxes[:, 2] <= 21).all() and (boxes[:, 3] <= 33).all()
    # a gray input stays gray through every operation
    first = out['inputs'][0][0]
    assert torch.equal(first[0], first[1]) and torch.equal(first[1],
                                                           first[2])


def test_odd_files_through_the_loader(tmp_path):
    """Grayscale, RGBA, 16-bit and tiny files, loaded by LoadImageRobust
    and resized once, make one batch."""
    rng = np.random.default_rng(0)
    files = {
        'gray.png': Image.fromarray(rng.integers(0, 256, (40, 60), np.uint8)),
        'rgba.png': Image.fromarray(
            rng.integers(0, 256, (50, 40, 4), np.uint8), 'RGBA'),
        'deep.png': Image.fromarray(
            rng.integers(0, 65535, (45, 45)).astype(np.uint16)),
        'tiny.jpg': Image.fromarray(rng.integers(0, 256, (5, 9, 3),
                                                 np.uint8)),
    }
    pipeline = [
        TRANSFORMS.build(dict(type='LoadImageRobust', on_bad_image='raise')),
        TRANSFORMS.build(dict(type='ResizeForDeviceCrops', size=48)),
        TRANSFORMS.build(dict(type='PackInputs',
                              meta_keys=['img_path', 'ori_shape'])),
    ]
    samples = []
    for name, image in files.items():
        image.save(tmp_path / name)
        results = dict(img_path=str(tmp_path / name))
        for transform in pipeline:
            results = transform(results)
        samples.append(results)
    batch = default_collate(samples)
    assert tuple(batch['inputs'].shape) == (4, 3, 48, 48)
    preprocessor = build(seed=0, global_size=32, num_local=2, local_size=16,
                         mean=MEAN, std=STD, to_rgb=True)
    out = preprocessor(batch, True)
    assert [tuple(x.shape)[:2] for x in out['inputs']] == [(4, 3)] * 4
    for sample, (h, w) in zip(out['data_samples'],
                              [(40, 60), (50, 40), (45, 45), (32, 58)]):
        assert tuple(sample.ori_shape) == (h, w)  # tiny: upscaled to 32
        assert (sample.crop_boxes[:, 2] <= w).all()
        assert (sample.crop_boxes[:, 3] <= h).all()
    assert all(torch.isfinite(x).all() for x in out['inputs'])
    # pseudo_collate (a list of tensors) gives the same crops
    again = build(seed=0, global_size=32, num_local=2, local_size=16,
                  mean=MEAN, std=STD, to_rgb=True)(pseudo_collate(samples),
                                                   True)
    assert all(torch.equal(a, b)
               for a, b in zip(out['inputs'], again['inputs']))


def test_outside_training_it_is_selfsup_data_preprocessor():
    from mmpretrain.models.utils import SelfSupDataPreprocessor
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    data = dict(inputs=images, data_samples=None)
    ours = build(mean=MEAN, std=STD, to_rgb=True)(data, False)
    theirs = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)(data,
                                                                      False)
    assert torch.equal(ours['inputs'], theirs['inputs'])


def test_crops_made_in_the_loader_are_refused():
    crops = [torch.zeros(2, 3, 8, 8, dtype=torch.uint8)] * 3
    with pytest.raises(ValueError, match='no CMDMultiCrop'):
        build()(dict(inputs=crops, data_samples=[DataSample()] * 2), True)


def test_autocast_hands_over_crops_in_its_dtype():
    preprocessor = build(seed=0, global_size=16, num_local=1, local_size=8,
                         mean=MEAN, std=STD, to_rgb=True)
    images = torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = preprocessor(dict(inputs=images), True)
    assert all(x.dtype == torch.bfloat16 for x in out['inputs'])


# ---------------------------------------------------------------------------
# options


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_crops=3), "CMDMultiCropPreprocessor.num_crops: unknown option. "
     "Valid options are \\['mean', 'std', 'to_rgb'"),
    (dict(local_photometric=dict(blur=0.5)),
     "CMDMultiCropPreprocessor.local_photometric.blur: unknown option. Valid "
     "options are \\['color_jitter_prob', 'brightness'"),
    (dict(global_photometric=[dict(), dict(solarise_prob=0.2)]),
     "global_photometric\\[1\\].solarise_prob: unknown option"),
    (dict(global_photometric=[]), 'global_photometric: must list one dict'),
    (dict(local_photometric=dict(hue=0.7)),
     'local_photometric.hue: must be a number in \\[0, 0.5\\]'),
    (dict(local_photometric=dict(blur_sigma=(2.0, 0.1))),
     'local_photometric.blur_sigma: must be \\(min, max\\)'),
    (dict(global_scale=(0.5, 0.2)), 'global_scale: must be \\(min, max\\)'),
    (dict(local_size=None), 'local_size: num_local=10 local crops'),
    (dict(flip_prob=2), 'flip_prob: must be a number in \\[0, 1\\]'),
    (dict(seed=-1), 'seed: must be an int >= 0'),
])
def test_bad_options_fail_at_build(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)
