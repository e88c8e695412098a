"""CMD's multi-crop augmentation on the model's device, a batch at a time.

The device half of the device multi-crop path (``docs/design.md``,
"Multi-crop on the device"); the loader half is
:class:`~cmd_plugin.datasets.transforms.ResizeForDeviceCrops`. The random
factors of every crop are drawn on the host from the preprocessor's own
generator (a few numbers per crop), so the boxes and flips are known there
without waiting for the device; the pixels are then resampled and augmented
on the device for the whole batch with a few batched kernels.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from PIL import Image
from torchvision.ops import roi_align

from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ...utils.validation import (check_bool, check_int, check_known,
                                 check_number, check_scale_range)

#: DINO's photometric augmentation per crop, as ``CMDMultiCrop``'s
#: ``dino_photometric`` pipelines apply it: colour jitter (brightness,
#: contrast, saturation, hue in random order) with ``color_jitter_prob``,
#: grayscale with ``grayscale_prob``, Gaussian blur with ``blur_prob`` and a
#: sigma uniform in ``blur_sigma``, solarisation at ``solarize_threshold``
#: with ``solarize_prob``. A photometric option given as a dict overrides
#: these keys.
PHOTOMETRIC_DEFAULTS = dict(
    color_jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.2,
    hue=0.1,
    grayscale_prob=0.2,
    blur_prob=0.5,
    blur_sigma=(0.1, 2.0),
    solarize_prob=0.0,
    solarize_threshold=128,
)
#: DINO: blur always on the first global crop; blur 0.1 and solarisation 0.2
#: on the second; blur 0.5 on the local crops (``CMDMultiCrop``'s defaults).
DEFAULT_GLOBAL_PHOTOMETRIC = (dict(blur_prob=1.0),
                              dict(blur_prob=0.1, solarize_prob=0.2))
DEFAULT_LOCAL_PHOTOMETRIC = dict(blur_prob=0.5)

#: ``RandomResizedCrop``'s defaults, which ``CMDMultiCrop`` uses.
ASPECT_RATIO_RANGE = (3. / 4., 4. / 3.)
MAX_ATTEMPTS = 10
#: Separates the preprocessor's stream from torch's global one when both are
#: seeded with the same epoch seed.
_STREAM = 0x6D63

OWNER = 'CMDMultiCropPreprocessor'
OPTIONS = ('mean', 'std', 'to_rgb', 'non_blocking', 'global_size',
           'global_scale', 'num_local', 'local_size', 'local_scale',
           'flip_prob', 'global_photometric', 'local_photometric', 'seed')


class CropParams(NamedTuple):
    """The random factors of ``N = V * B`` crops, on the host.

    Rows are crop-major: row ``v * B + b`` is crop ``v`` of image ``b``.
    """
    boxes: torch.Tensor  #: ``(N, 4)`` float64 ``x1, y1, x2, y2`` (frame px)
    flips: torch.Tensor  #: ``(N,)`` bool, horizontal flip
    jitter: torch.Tensor  #: ``(N,)`` bool, colour jitter applied
    factors: torch.Tensor  #: ``(N, 4)`` float64 brightness, contrast,
    #: saturation factors and hue shift (turns)
    order: torch.Tensor  #: ``(N, 4)`` int64, the jitter's order of its 4 ops
    #: (0-3: brightness, contrast, saturation, hue; -1: an op of amount 0)
    grayscale: torch.Tensor  #: ``(N,)`` bool
    blur: torch.Tensor  #: ``(N,)`` bool
    sigma: torch.Tensor  #: ``(N,)`` float64 blur sigma (drawn for every crop)
    solarize: torch.Tensor  #: ``(N,)`` bool
    threshold: torch.Tensor  #: ``(N,)`` solarisation threshold


def _uniform(low: torch.Tensor, high: torch.Tensor, shape: Tuple[int, ...],
             generator: torch.Generator) -> torch.Tensor:
    """``low + (high - low) U[0, 1)`` in float64, as ``np.random.uniform``."""
    u = torch.rand(shape, dtype=torch.float64, generator=generator)
    return low + (high - low) * u


def sample_boxes(h: torch.Tensor, w: torch.Tensor, scale_low: torch.Tensor,
                 scale_high: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
    """Random resized crop boxes, as ``RandomResizedCrop.rand_crop_params``.

    Per crop, up to :data:`MAX_ATTEMPTS` candidates of area
    ``U(scale) * h * w`` and aspect ratio log-uniform in
    :data:`ASPECT_RATIO_RANGE` (sides rounded half to even, as Python's
    ``round``); the first that fits is placed at a uniform integer offset,
    and without one the crop is the central crop of the largest allowed
    aspect ratio. All crops and attempts are drawn at once.

    Args:
        h, w (Tensor): ``(N,)`` float64 frame sizes.
        scale_low, scale_high (Tensor): ``(N,)`` area range.
        generator (torch.Generator): A CPU generator.

    Returns:
        Tensor: ``(N, 4)`` float64 ``x1, y1, x2, y2``, integers.
    """
    n = h.numel()
    shape = (n, MAX_ATTEMPTS)
    area = _uniform(scale_low[:, None], scale_high[:, None], shape,
                    generator) * (h * w)[:, None]
    low, high = (math.log(r) for r in ASPECT_RATIO_RANGE)
    ratio = torch.exp(
        _uniform(torch.tensor(low, dtype=torch.float64),
                 torch.tensor(high, dtype=torch.float64), shape, generator))
    tw = torch.round(torch.sqrt(area * ratio))
    th = torch.round(torch.sqrt(area / ratio))
    fits = (tw > 0) & (tw <= w[:, None]) & (th > 0) & (th <= h[:, None])
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
    found = fits.any(dim=1)
    tw, th = tw.gather(1, first)[:, 0], th.gather(1, first)[:, 0]
    # fallback: the central crop of the nearest allowed aspect ratio
    in_ratio = w / h
    narrow = in_ratio < min(ASPECT_RATIO_RANGE)
    wide = in_ratio > max(ASPECT_RATIO_RANGE)
    fw = torch.where(wide, torch.round(h * max(ASPECT_RATIO_RANGE)), w)
    fh = torch.where(narrow, torch.round(w / min(ASPECT_RATIO_RANGE)), h)
    tw, th = torch.where(found, tw, fw), torch.where(found, th, fh)
    u = torch.rand((2, n), dtype=torch.float64, generator=generator)
    x1 = torch.where(found, torch.floor(u[0] * (w - tw + 1)),
                     torch.floor((w - tw) / 2))
    y1 = torch.where(found, torch.floor(u[1] * (h - th + 1)),
                     torch.floor((h - th) / 2))
    return torch.stack([x1, y1, x1 + tw, y1 + th], dim=1)


def photometric_config(name: str, given: Optional[dict]) -> dict:
    """:data:`PHOTOMETRIC_DEFAULTS` updated by ``given``, checked.

    Raises:
        ValueError: Naming ``OWNER.name.key`` for an unknown key (listing the
            valid ones) or a bad value.
    """
    if not isinstance(given, dict):
        raise ValueError(f'{OWNER}.{name}: must be a dict of photometric '
                         f'options {list(PHOTOMETRIC_DEFAULTS)}, got '
                         f'{given!r}.')
    check_known(OWNER, name, given, list(PHOTOMETRIC_DEFAULTS))
    cfg = dict(PHOTOMETRIC_DEFAULTS, **given)
    where = f'{name}.'
    for key in ('color_jitter_prob', 'grayscale_prob', 'blur_prob',
                'solarize_prob'):
        check_number(OWNER, where + key, cfg[key], 0, 1)
    for key in ('brightness', 'contrast', 'saturation'):
        check_number(OWNER, where + key, cfg[key], 0)
    check_number(OWNER, where + 'hue', cfg['hue'], 0, 0.5)
    check_number(OWNER, where + 'solarize_threshold',
                 cfg['solarize_threshold'], 0, 256)
    sigma = cfg['blur_sigma']
    if not (isinstance(sigma, (tuple, list)) and len(sigma) == 2 and all(
            isinstance(s, (int, float)) and not isinstance(s, bool)
            for s in sigma) and 0 < sigma[0] <= sigma[1]):
        raise ValueError(f'{OWNER}.{where}blur_sigma: must be (min, max) '
                         f'with 0 < min <= max, got {sigma!r}.')
    cfg['blur_sigma'] = (float(sigma[0]), float(sigma[1]))
    return cfg


def pil_luma(x: torch.Tensor) -> torch.Tensor:
    """PIL's ``convert('L')`` of integer-valued RGB: ``(B, 1, H, W)``.

    ``(R 19595 + G 38470 + B 7471 + 2^15) >> 16``; exact in float32 (the
    sum stays below ``2^24``).
    """
    r, g, b = x.unbind(1)
    acc = r * 19595.0 + g * 38470.0 + b * 7471.0 + 32768.0
    return torch.floor(acc * (1.0 / 65536.0)).unsqueeze(1)


#: PIL's 8-bit RGB <-> HSV conversions as two tables of 2^24 packed
#: ``(c0 << 16) | (c1 << 8) | c2`` int32 codes (64 MiB each), built once
#: per process from PIL itself and copied once to each device.
_HSV_TABLES: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}


def _pack(channels: np.ndarray) -> np.ndarray:
    c = channels.reshape(-1, 3).astype(np.int32)
    return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def hsv_tables(device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """PIL's ``convert('HSV')`` and HSV ``convert('RGB')`` for all 2^24 codes.

    Returns:
        tuple[Tensor, Tensor]: ``rgb_to_hsv`` and ``hsv_to_rgb``, ``(2^24,)``
        int32 on ``device``, indexed and valued by packed codes.
    """
    key = str(device)
    if key not in _HSV_TABLES:
        if 'cpu' not in _HSV_TABLES:
            to_hsv = np.empty(2**24, np.int32)
            to_rgb = np.empty(2**24, np.int32)
            chunk = 2**20  # 16 slices: a few MiB of temporaries each
            for start in range(0, 2**24, chunk):
                # every 24-bit code as 3 bytes: the big-endian uint32 minus
                # its leading zero byte
                codes = np.arange(start, start + chunk, dtype='>u4')
                every = np.ascontiguousarray(
                    codes.view(np.uint8).reshape(-1, 4)[:, 1:]).reshape(
                        1024, 1024, 3)
                part = slice(start, start + chunk)
                to_hsv[part] = _pack(
                    np.asarray(Image.fromarray(every).convert('HSV')))
                bands = [Image.fromarray(np.ascontiguousarray(every[..., i]))
                         for i in range(3)]
                to_rgb[part] = _pack(
                    np.asarray(Image.merge('HSV', bands).convert('RGB')))
            _HSV_TABLES['cpu'] = (torch.from_numpy(to_hsv),
                                  torch.from_numpy(to_rgb))
        _HSV_TABLES[key] = tuple(
            t.to(device) for t in _HSV_TABLES['cpu'])  # type: ignore
    return _HSV_TABLES[key]


def pil_shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``mmcv.adjust_hue(backend='pillow')`` of integer-valued RGB images.

    PIL converts to 8-bit HSV, mmcv adds ``np.uint8(hue_factor * 255)`` to
    the hue modulo 256 and PIL converts back; both conversions are looked up
    in PIL's own tables (:func:`hsv_tables`), so the result is PIL's to the
    bit. The hue shift is an add on the packed HSV code.

    Args:
        x (Tensor): ``(M, 3, H, W)`` RGB, integers in [0, 255].
        shift (Tensor): ``(M,)`` hue shifts in [0, 255], integers.

    Returns:
        Tensor: ``(M, 3, H, W)``, integers in [0, 255], ``x``'s dtype.
    """
    to_hsv, to_rgb = hsv_tables(x.device)
    c = x.to(torch.int32)
    code = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    hsv = to_hsv[code.long()]
    hsv = (hsv + (shift.to(torch.int32).view(-1, 1, 1) << 16)) & 0xFFFFFF
    rgb = to_rgb[hsv.long()]
    return torch.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255],
                       dim=1).to(x.dtype)


def pil_box_radius(sigma: float, passes: int = 3) -> float:
    """PIL's box radius for ``GaussianBlur(sigma)`` (float32, as its C)."""
    f = np.float32
    sigma2 = f(f(sigma) * f(sigma) / f(passes))
    length = f(np.sqrt(12.0 * float(sigma2) + 1.0))
    low = f(np.floor((length - f(1)) / f(2)))
    frac = f((f(2) * low + f(1)) * (low * (low + f(1)) - f(3) * sigma2))
    frac = f(frac / f(f(6) * (sigma2 - (low + f(1)) * (low + f(1)))))
    return float(f(low + frac))


def pil_box_kernels(sigma: torch.Tensor, passes: int = 3) -> torch.Tensor:
    """The box of PIL's ``GaussianBlur(radius=sigma)``, per image.

    PIL blurs with ``passes`` box blurs of a fractional radius ``r``
    (Gwosdek et al., ``_gaussian_blur_radius`` in ``libImaging/BoxBlur.c``):
    weight ``ww = floor(2^24 / (2 r + 1))`` on the ``2 int(r) + 1`` central
    taps and ``fw = floor((2^24 - (2 int(r) + 1) ww) / 2)`` on the next two,
    over ``2^24``. Computed in float32 as PIL's C code.

    Args:
        sigma (Tensor): ``(M,)`` PIL radii (standard deviations).
        passes (int): Box passes. Defaults to 3, PIL's.

    Returns:
        Tensor: ``(M, 2 B + 1)`` float32 boxes, ``B = max int(r) + 1``.
    """
    s = sigma.to(torch.float32)
    sigma2 = s * s / passes
    length = torch.sqrt(12.0 * sigma2.double() + 1.0).float()
    low = torch.floor((length - 1.0) / 2.0)
    frac = (2 * low + 1) * (low * (low + 1) - 3 * sigma2)
    frac = frac / (6 * (sigma2 - (low + 1) * (low + 1)))
    radius = low + frac
    whole = radius.to(torch.int64)
    ww = torch.floor(16777216.0 / (radius * 2 + 1)).double()
    fw = torch.floor((16777216.0 - (2 * whole + 1).double() * ww) / 2)
    half = int(whole.max()) + 1 if len(s) else 1
    taps = torch.arange(-half, half + 1).abs()[None]
    box = torch.where(taps <= whole[:, None], ww[:, None],
                      torch.where(taps == whole[:, None] + 1, fw[:, None],
                                  torch.zeros(1, dtype=torch.float64)))
    return (box / 16777216.0).float()


def pil_gaussian_blur(x: torch.Tensor, box: torch.Tensor,
                      passes: int = 3) -> torch.Tensor:
    """PIL's ``GaussianBlur`` of integer-valued images, a box per image.

    ``passes`` box blurs along the rows, then along the columns, each with
    replicated edges and rounded half up to 8 bits, as
    ``ImagingBoxBlur`` does (the edge copy of every pass is why this is not
    one convolution with the combined kernel).

    Args:
        x (Tensor): ``(M, C, H, W)``, integers in [0, 255].
        box (Tensor): ``(M, 2 B + 1)`` from :func:`pil_box_kernels`.
        passes (int): Defaults to 3.

    Returns:
        Tensor: ``(M, C, H, W)``, integers in [0, 255].
    """
    m, c, h, w = x.shape
    size = box.shape[1]
    half = size // 2
    weight = box.to(x.dtype).repeat_interleave(c, 0)
    y = x.reshape(1, m * c, h, w)
    for pad, shape in (((half, half, 0, 0), (1, size)),
                       ((0, 0, half, half), (size, 1))):
        kernel = weight.view(m * c, 1, *shape)
        for _ in range(passes):
            y = F.conv2d(F.pad(y, pad, mode='replicate'), kernel,
                         groups=m * c)
            y = torch.floor(y + 0.5).clamp_(0, 255)
    return y.view(m, c, h, w)


def mmcv_grayscale(x: torch.Tensor) -> torch.Tensor:
    """mmcv's ``RandomGrayscale`` (equal weights) of integer-valued images.

    ``((w R + w G) + w B).astype(uint8)`` with ``w = 1/3`` in float64, as
    numpy computes it: ``(100, 100, 100)`` gives 99.

    Args:
        x (Tensor): ``(M, 3, H, W)``.

    Returns:
        Tensor: ``(M, 3, H, W)``, the gray value in every channel.
    """
    third = 1.0 / 3.0
    r, g, b = x.double().unbind(1)  # summed in mmcv's BGR order
    gray = torch.floor(b * third + g * third + r * third).to(x.dtype)
    return gray.unsqueeze(1).expand(-1, 3, -1, -1)


@MODELS.register_module()
class CMDMultiCropPreprocessor(SelfSupDataPreprocessor):
    """``CMDMultiCrop``'s augmentation, batched on the model's device.

    In training it turns a batch of images, each resized once by
    :class:`~cmd_plugin.datasets.transforms.ResizeForDeviceCrops`, into the
    inputs ``CMD`` gets from ``CMDMultiCrop``: a list of ``V = G + M``
    normalised crop batches ``(B, 3, s, s)``, the global crops first, and per
    data sample ``crop_boxes`` ``(V, 4)`` float32 ``x1, y1, x2, y2`` in the
    pixels of the image before the resize (``ori_shape``) and
    ``crop_flips`` ``(V,)`` bool, so region matching is unchanged. Outside
    training it is ``SelfSupDataPreprocessor`` (normalise a batch).

    Per crop, with the distributions of ``CMDMultiCrop``: a random resized
    crop (area ``U(scale)`` of the image, aspect ratio log-uniform in
    [3/4, 4/3], ten attempts then a central crop), a horizontal flip with
    ``flip_prob``, then DINO's photometrics with per-crop probabilities and
    per-crop factors: colour jitter (brightness, contrast, saturation, hue in
    a random order), grayscale (``RandomGrayscale`` with equal weights),
    Gaussian blur, solarisation. The pixel operations reproduce the 8-bit
    arithmetic of the CPU path's PIL / mmcv operations (:func:`pil_luma`,
    :func:`pil_shift_hue`, :func:`pil_gaussian_blur`,
    :func:`mmcv_grayscale`; hue through PIL's own HSV tables, 128 MiB per
    device, built on first use in about 2 s of CPU), so the photometric
    statistics agree with ``CMDMultiCrop``'s. Resampling is one
    ``torchvision.ops.roi_align`` call per crop size for the whole batch
    (bilinear, averaging ``ceil(box / size)`` samples per output pixel when
    a box shrinks, so large boxes are anti-aliased), where ``CMDMultiCrop``
    resizes each crop bicubically from the full image: the one deliberate
    difference. All random factors of a batch come from the preprocessor's
    own CPU generator. Without ``seed`` (training) it is seeded, batch by
    batch, with one draw of torch's global generator, which
    ``EpochSeedHook`` seeds from the epoch seed and a checkpoint written
    inside an epoch records: runs and resumed runs repeat exactly. With
    ``seed`` (or after :meth:`reseed`) it is one stream of its own.

    The input is assumed BGR (``LoadImageRobust``); 1-channel inputs are
    repeated and a 4th (alpha) channel dropped. Images of different sizes in
    one batch (a list, ``pseudo_collate``) are resampled per size. Under
    autocast (``--amp``) the normalised crops are handed over in the
    autocast dtype, which halves the memory they hold until the backward
    pass ends.

    Args:
        mean, std (Sequence[float], optional): Normalisation, in the output
            channel order, as ``SelfSupDataPreprocessor``.
        to_rgb (bool): Hand over RGB crops (else BGR, as loaded).
            Defaults to False.
        non_blocking (bool): Copy the batch to the device asynchronously.
            Defaults to False.
        global_size (int): Side of the global crops. Defaults to 224.
        global_scale (tuple[float, float]): Area range of the global crops.
            Defaults to (0.25, 1.0).
        num_local (int): Number of local crops. Defaults to 10.
        local_size (int, optional): Side of the local crops; required when
            ``num_local > 0``. Defaults to 96.
        local_scale (tuple[float, float]): Area range of the local crops.
            Defaults to (0.05, 0.25).
        flip_prob (float): Probability of a horizontal flip per crop.
            Defaults to 0.5.
        global_photometric (list[dict], optional): One dict of photometric
            options (keys of :data:`PHOTOMETRIC_DEFAULTS`, which fill the rest)
            per global crop; their number sets the number of global crops.
            Defaults to DINO's two (:data:`DEFAULT_GLOBAL_PHOTOMETRIC`).
        local_photometric (dict, optional): Photometric options of the local
            crops. Defaults to DINO's (:data:`DEFAULT_LOCAL_PHOTOMETRIC`).
        seed (int, optional): A stream of its own from this seed. Defaults
            to None: every batch seeded from torch's global generator (what
            exact resume needs).
        **unknown: Rejected, naming the valid options.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 to_rgb: bool = False,
                 non_blocking: bool = False,
                 global_size: int = 224,
                 global_scale: Sequence[float] = (0.25, 1.0),
                 num_local: int = 10,
                 local_size: Optional[int] = 96,
                 local_scale: Sequence[float] = (0.05, 0.25),
                 flip_prob: float = 0.5,
                 global_photometric: Optional[Sequence[dict]] = None,
                 local_photometric: Optional[dict] = None,
                 seed: Optional[int] = None,
                 **unknown) -> None:
        check_known(OWNER, '', unknown, OPTIONS)
        check_bool(OWNER, 'to_rgb', to_rgb)
        check_bool(OWNER, 'non_blocking', non_blocking)
        check_int(OWNER, 'global_size', global_size, 1)
        check_int(OWNER, 'num_local', num_local, 0)
        if num_local > 0 and not local_size:
            raise ValueError(
                f'{OWNER}.local_size: num_local={num_local} local crops '
                'requested but local_size is not set. Set local_size (e.g. '
                '96) or num_local=0.')
        if num_local:
            check_int(OWNER, 'local_size', local_size, 1)
        check_number(OWNER, 'flip_prob', flip_prob, 0, 1)
        if seed is not None:
            check_int(OWNER, 'seed', seed, 0)
        if global_photometric is None:
            global_photometric = DEFAULT_GLOBAL_PHOTOMETRIC
        if local_photometric is None:
            local_photometric = DEFAULT_LOCAL_PHOTOMETRIC
        if not isinstance(global_photometric,
                          (list, tuple)) or not global_photometric:
            raise ValueError(
                f'{OWNER}.global_photometric: must list one dict of '
                'photometric options per global crop (at least one), got '
                f'{global_photometric!r}.')
        super().__init__(mean=mean, std=std, to_rgb=to_rgb,
                         non_blocking=non_blocking)
        self.global_size = global_size
        self.global_scale = check_scale_range(OWNER, 'global_scale',
                                              global_scale)
        self.num_local = num_local
        self.local_size = local_size
        self.local_scale = check_scale_range(OWNER, 'local_scale',
                                             local_scale)
        self.flip_prob = float(flip_prob)
        self.global_photometric = [
            photometric_config(f'global_photometric[{g}]', p)
            for g, p in enumerate(global_photometric)
        ]
        self.local_photometric = photometric_config('local_photometric',
                                                    local_photometric)
        self.to_rgb = to_rgb
        self.seed = seed
        # one photometric config per crop, the global ones first
        self._per_crop = self.global_photometric + [self.local_photometric
                                                    ] * num_local
        # half width of PIL's blur box at the largest sigma
        self._blur_radius = int(
            pil_box_radius(max(p['blur_sigma'][1]
                               for p in self._per_crop))) + 1
        self._generator = torch.Generator()
        self._own_stream = False
        self._warned_frame = False
        if seed is not None:
            self.reseed(seed)

    # ------------------------------------------------------------------
    # crops and their random factors

    @property
    def num_global(self) -> int:
        return len(self.global_photometric)

    @property
    def crop_sizes(self) -> List[int]:
        """Side of every crop, the global ones first."""
        return ([self.global_size] * self.num_global +
                [self.local_size] * self.num_local)

    def reseed(self, seed: int) -> None:
        """Draw from a stream of its own, started from ``seed``.

        The stream is derived from ``(seed, a constant)``, independent of
        torch's global generator seeded with the same number.
        """
        state = np.random.SeedSequence([int(seed), _STREAM])
        self._generator.manual_seed(int(state.generate_state(1)[0]))
        self._own_stream = True

    def _rng(self) -> torch.Generator:
        if not self._own_stream:
            # one draw of torch's global generator per batch: its state
            # (seeded per epoch by EpochSeedHook, recorded in checkpoints)
            # determines the crops
            self._generator.manual_seed(
                int(torch.randint(0, 2**62, (1, )).item()))
        return self._generator

    def _per_row(self, key: str, batch_size: int,
                 index: Optional[int] = None) -> torch.Tensor:
        """A photometric value of every crop, repeated for ``N`` rows."""
        values = [p[key] if index is None else p[key][index]
                  for p in self._per_crop]
        return torch.tensor(values, dtype=torch.float64).repeat_interleave(
            batch_size)

    def sample_params(self, frames: torch.Tensor) -> CropParams:
        """Draw the random factors of every crop of a batch.

        Needs no pixels: the tests compare these draws with
        ``CMDMultiCrop``'s.

        Args:
            frames (Tensor): ``(B, 2)`` ``(h, w)`` of each image's frame.

        Returns:
            CropParams: ``V * B`` rows, crop-major.
        """
        g = self._rng()
        batch = frames.shape[0]
        v_global, v = self.num_global, len(self._per_crop)
        n = v * batch
        h, w = frames.to(torch.float64).repeat(v, 1).unbind(1)
        is_global = torch.arange(n) < v_global * batch
        scales = torch.tensor([self.global_scale, self.local_scale],
                              dtype=torch.float64)
        low, high = scales[(~is_global).long()].unbind(1)
        boxes = sample_boxes(h, w, low, high, g)
        flips = torch.rand(n, generator=g, dtype=torch.float64) < \
            self.flip_prob
        jitter = torch.rand(n, generator=g, dtype=torch.float64) < \
            self._per_row('color_jitter_prob', batch)
        ranges = []
        for key in ('brightness', 'contrast', 'saturation'):
            amount = self._per_row(key, batch)
            ranges.append(((1 - amount).clamp(min=0), 1 + amount))
        hue = self._per_row('hue', batch)
        ranges.append((-hue, hue))
        factors = torch.stack([
            _uniform(low_, high_, (n, ), g) for low_, high_ in ranges
        ], dim=1)
        order = torch.rand((n, 4), generator=g).argsort(dim=1)
        # ColorJitter skips an operation whose amount is 0 (-1: nothing)
        amounts = torch.stack([self._per_row(key, batch) for key in (
            'brightness', 'contrast', 'saturation', 'hue')], dim=1)
        off = torch.gather(amounts == 0, 1, order)
        order = torch.where(off, torch.full_like(order, -1), order)
        grayscale = torch.rand(n, generator=g, dtype=torch.float64) < \
            self._per_row('grayscale_prob', batch)
        blur = torch.rand(n, generator=g, dtype=torch.float64) < \
            self._per_row('blur_prob', batch)
        sigma = _uniform(self._per_row('blur_sigma', batch, 0),
                         self._per_row('blur_sigma', batch, 1), (n, ), g)
        solarize = torch.rand(n, generator=g, dtype=torch.float64) < \
            self._per_row('solarize_prob', batch)
        return CropParams(
            boxes=boxes, flips=flips, jitter=jitter,
            factors=factors, order=order, grayscale=grayscale, blur=blur,
            sigma=sigma, solarize=solarize,
            threshold=self._per_row('solarize_threshold', batch))

    # ------------------------------------------------------------------
    # pixels

    def _images(self, inputs: Union[torch.Tensor, List[torch.Tensor]]
                ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """``(indices, (b, 3, H, W) float RGB)`` per image size."""
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            groups = [(torch.arange(inputs.shape[0]),
                       self._three_channels(inputs))]
        elif isinstance(inputs, (list, tuple)) and inputs and all(
                isinstance(x, torch.Tensor) and x.dim() == 3
                for x in inputs):
            images = [self._three_channels(x[None])[0] for x in inputs]
            by_size: Dict[tuple, List[int]] = {}
            for i, x in enumerate(images):
                by_size.setdefault(tuple(x.shape[-2:]), []).append(i)
            groups = [(torch.tensor(idx),
                       torch.stack([images[i] for i in idx]))
                      for idx in by_size.values()]
        else:
            shapes = ([tuple(x.shape) for x in inputs[:3]] if isinstance(
                inputs, (list, tuple)) else getattr(inputs, 'shape', None))
            raise ValueError(
                f'{OWNER}: expected one image per sample, (B, C, H, W) or a '
                f'list of (C, H, W), got {shapes}. The train pipeline must '
                "resize each image once (dict(type='ResizeForDeviceCrops')) "
                'and make no crops itself (no CMDMultiCrop).')
        return [(idx, x.flip(1).float()) for idx, x in groups]  # to RGB

    @staticmethod
    def _three_channels(x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)``: gray repeated, alpha dropped."""
        channels = x.shape[1]
        if channels == 1:
            return x.expand(-1, 3, -1, -1)
        if channels == 4:
            return x[:, :3]
        if channels != 3:
            raise ValueError(f'{OWNER}: images need 1, 3 or 4 channels, got '
                             f'{channels}.')
        return x

    def _frames(self, groups: List[Tuple[torch.Tensor, torch.Tensor]],
                samples: Optional[List[DataSample]]) -> torch.Tensor:
        """``(B, 2)`` frame ``(h, w)``: ``ori_shape``, else the input's."""
        batch = sum(len(idx) for idx, _ in groups)
        frames = torch.empty((batch, 2), dtype=torch.float64)
        for idx, x in groups:
            frames[idx] = torch.tensor(x.shape[-2:], dtype=torch.float64)
        if samples is None:
            return frames
        shapes = [s.get('ori_shape') for s in samples]
        if all(s is not None for s in shapes):
            frames = torch.tensor([tuple(s[:2]) for s in shapes],
                                  dtype=torch.float64)
        elif not self._warned_frame:
            self._warned_frame = True
            print_log(
                f'{OWNER}: the data samples carry no ori_shape, so the crop '
                'boxes are drawn in the pixels of the input tensor. Add '
                "'ori_shape' to PackInputs(meta_keys=...) after "
                'ResizeForDeviceCrops to draw them in the original image, '
                'as CMDMultiCrop does.', logger='current')
        return frames

    def _resample(self, groups: List[Tuple[torch.Tensor, torch.Tensor]],
                  frames: torch.Tensor, boxes: torch.Tensor, rows: range,
                  size: int, batch: int) -> torch.Tensor:
        """``(len(rows), 3, size, size)`` crops of rows ``rows``."""
        device = groups[0][1].device
        rows_t = torch.as_tensor(list(rows))
        image = rows_t % batch
        if len(groups) == 1:
            (_, x), = groups
            return self._roi_align(x, frames[image], boxes[rows_t], image,
                                   size)
        out = torch.empty((len(rows_t), 3, size, size), device=device)
        for idx, x in groups:
            position = torch.full((batch, ), -1, dtype=torch.long)
            position[idx] = torch.arange(len(idx))
            mine = torch.nonzero(position[image] >= 0)[:, 0]
            if len(mine):
                crops = self._roi_align(x, frames[image[mine]],
                                        boxes[rows_t[mine]],
                                        position[image[mine]], size)
                out[mine.to(device)] = crops
        return out

    @staticmethod
    def _roi_align(x: torch.Tensor, frames: torch.Tensor, boxes: torch.Tensor,
                   image: torch.Tensor, size: int) -> torch.Tensor:
        """Crops of ``x`` (``(b, 3, H, W)``) at frame ``boxes``."""
        height, width = x.shape[-2:]
        scale = torch.stack([width / frames[:, 1], height / frames[:, 0]],
                            dim=1).repeat(1, 2)
        rois = torch.cat([image[:, None].to(torch.float64), boxes * scale],
                         dim=1).to(device=x.device, dtype=x.dtype,
                                   non_blocking=True)
        # aligned=True: box edges are pixel edges, as CMDMultiCrop's boxes
        return roi_align(x, rois, output_size=size, spatial_scale=1.0,
                         sampling_ratio=-1, aligned=True)

    def augment(self, x: torch.Tensor, p: CropParams,
                rows: range) -> torch.Tensor:
        """Flip and DINO's photometrics on ``x``, the crops of ``rows``.

        ``x`` holds RGB crops as ``CMDMultiCrop``'s resize leaves them
        (integers in [0, 255]) and is changed in place (and returned), which
        keeps the temporaries small; every operation reproduces the 8-bit
        arithmetic of the CPU path's PIL / mmcv operation (see the
        functions above), so the pixel statistics agree exactly. Every
        decision is read from the host-side ``p``, so nothing waits for the
        device, and the per-crop numbers go over in one copy.
        """
        rows_t = torch.as_tensor(list(rows))
        n, device = len(rows_t), x.device
        jitter = p.jitter[rows_t]
        order = torch.where(jitter[:, None], p.order[rows_t],
                            torch.full_like(p.order[rows_t], -1))
        f = p.factors[rows_t]
        # per jitter position k: PIL blend factor (float32, as Image.blend
        # gets it) and whether the degenerate image is the contrast mean or
        # the saturation gray image (brightness: black)
        blend = torch.ones((n, 4), dtype=torch.float64)
        for op in range(3):
            blend = torch.where(order == op, f[:, op:op + 1], blend)
        blend = blend.float().double()
        contrast = (order == 1).double()
        saturation = (order == 2).double()
        # np.uint8(hue_factor * 255): truncated, modulo 256
        shift = torch.remainder(torch.trunc(f[:, 3] * 255), 256)
        threshold = torch.where(p.solarize[rows_t], p.threshold[rows_t],
                                torch.full((n, ), math.inf,
                                           dtype=torch.float64))
        blur = p.blur[rows_t]
        kernels = torch.zeros((n, 2 * self._blur_radius + 1))
        if blur.any():
            k = pil_box_kernels(p.sigma[rows_t][blur])
            pad = self._blur_radius - k.shape[1] // 2
            kernels[blur] = F.pad(k, (pad, pad))
        table = torch.cat([blend, contrast, saturation, shift[:, None],
                           threshold[:, None], kernels.double()], dim=1)
        hue_rows = [torch.nonzero(order[:, k] == 3)[:, 0] for k in range(4)]
        index_parts = hue_rows + [
            torch.nonzero(p.flips[rows_t])[:, 0],
            torch.nonzero(p.grayscale[rows_t])[:, 0],
            torch.nonzero(blur)[:, 0],
            torch.nonzero(torch.isfinite(threshold))[:, 0],
        ]
        lengths = [len(i) for i in index_parts]
        blends = ((order >= 0) & (order <= 2)).any(dim=0).tolist()
        table = table.to(device=device, dtype=x.dtype, non_blocking=True)
        indices = torch.cat(index_parts).to(device, non_blocking=True)
        *hue_idx, flip_idx, gray_idx, blur_idx, solar_idx = indices.split(
            lengths)

        def column(i: int) -> torch.Tensor:
            return table[:, i].view(n, 1, 1, 1)

        if lengths[4]:
            x[flip_idx] = x[flip_idx].flip(-1)
        for k in range(4):
            if blends[k]:
                # Image.blend(degenerate, image, factor), truncated to uint8
                factor = column(k)
                luma = pil_luma(x)
                mean = luma.sum(dim=(2, 3), keepdim=True,
                                dtype=torch.float64) / luma[0, 0].numel()
                mean = torch.floor(mean + 0.5).to(x.dtype)
                degenerate = luma * column(8 + k) + mean * column(4 + k)
                x.sub_(degenerate).mul_(factor).add_(degenerate)
                x.clamp_(0, 255).floor_()
            if lengths[k]:
                rows_k = hue_idx[k]
                x[rows_k] = pil_shift_hue(x[rows_k], table[rows_k, 12])
        if lengths[5]:
            x[gray_idx] = mmcv_grayscale(x[gray_idx])
        if lengths[6]:
            x[blur_idx] = pil_gaussian_blur(x[blur_idx], table[blur_idx, 14:])
        if lengths[7]:
            solar = x[solar_idx]
            threshold = table[solar_idx, 13].view(-1, 1, 1, 1)
            x[solar_idx] = torch.where(solar >= threshold, 255 - solar, solar)
        return x

    def make_crops(self,
                   inputs: Union[torch.Tensor, List[torch.Tensor]],
                   frames: Optional[torch.Tensor] = None,
                   params: Optional[CropParams] = None
                   ) -> Tuple[List[torch.Tensor], CropParams]:
        """Crops of a batch on its device, RGB in [0, 255], not normalised.

        Args:
            inputs (Tensor | list[Tensor]): ``(B, C, H, W)`` or ``B`` tensors
                ``(C, H, W)``, BGR.
            frames (Tensor, optional): ``(B, 2)`` ``(h, w)`` frames of the
                boxes; defaults to the inputs' sizes.
            params (CropParams, optional): Factors to use instead of
                drawing them.

        Returns:
            tuple: ``V`` float32 batches ``(B, 3, s, s)`` and the factors.
        """
        groups = self._images(inputs)
        if frames is None:
            frames = self._frames(groups, None)
        return self._crops(groups, frames.to(torch.float64), params,
                           finish=None)

    def _crops(self, groups: List[Tuple[torch.Tensor, torch.Tensor]],
               frames: torch.Tensor, params: Optional[CropParams],
               finish) -> Tuple[List[torch.Tensor], CropParams]:
        """Resample, augment and (``finish``) every crop size in turn."""
        batch = len(frames)
        if params is None:
            params = self.sample_params(frames)
        crops = []
        spans = [(0, self.num_global, self.global_size),
                 (self.num_global, len(self._per_crop), self.local_size)]
        for first, last, size in spans:
            if last == first:
                continue
            rows = range(first * batch, last * batch)
            x = self._resample(groups, frames, params.boxes, rows, size,
                               batch)
            # 8 bits, as the CPU path's resize returns them (round to even)
            x = self.augment(x.round_().clamp_(0, 255), params, rows)
            if finish is not None:
                x = finish(x)
            crops += list(x.unflatten(0, (last - first, batch)).unbind(0))
        return crops, params

    def _finish(self, x: torch.Tensor,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Channel order, ``(x - mean) / std`` and the hand-over dtype."""
        if not self.to_rgb:
            x = x.flip(1)  # back to the loader's BGR
        if self._enable_normalize:
            x = x.sub_(self.mean).div_(self.std)
        return x if x.dtype == dtype else x.to(dtype)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Multi-crop in training; ``SelfSupDataPreprocessor`` otherwise."""
        if not training:
            return super().forward(data, training)
        with torch.no_grad():
            data = self.cast_data(data)
            inputs = data['inputs']
            samples = data.get('data_samples')
            if samples is None:
                samples = [DataSample() for _ in range(len(inputs))]
            groups = self._images(inputs)
            frames = self._frames(groups, samples)
            # the 8-bit arithmetic runs in float32 whatever autocast says;
            # the crops are handed over in autocast's dtype (--amp)
            device_type = groups[0][1].device.type
            dtype = torch.float32
            if torch.is_autocast_enabled(device_type):
                dtype = torch.get_autocast_dtype(device_type)
            with torch.autocast(device_type, enabled=False):
                crops, params = self._crops(
                    groups, frames, None,
                    lambda x: self._finish(x, dtype))
        boxes = params.boxes.to(torch.float32).numpy()
        flips = params.flips.numpy()
        batch = len(samples)
        for b, sample in enumerate(samples):
            sample.set_metainfo(
                dict(crop_boxes=boxes[b::batch].copy(),
                     crop_flips=flips[b::batch].copy()))
        return dict(inputs=crops, data_samples=samples)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_global={self.num_global}, '
                f'global_size={self.global_size}, '
                f'global_scale={self.global_scale}, '
                f'num_local={self.num_local}, local_size={self.local_size}, '
                f'local_scale={self.local_scale}, '
                f'flip_prob={self.flip_prob}, seed={self.seed})')
