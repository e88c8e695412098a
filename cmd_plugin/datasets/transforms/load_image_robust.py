"""Image loading that converts odd files and skips unreadable ones."""
import io
import logging
import multiprocessing
from typing import Optional

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image, ImageOps

from mmpretrain.registry import TRANSFORMS
from ...utils.validation import check_choice, check_int

ON_BAD_IMAGE = ('skip', 'raise')
# PIL modes holding more than 8 bits per pixel as integers (16-bit PNG/TIFF).
_HIGH_DEPTH_MODES = ('I', 'I;16', 'I;16L', 'I;16B', 'I;16N')


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes of any mode PIL reads into 8-bit BGR.

    Grayscale, palette, CMYK, YCbCr and 1-bit images are converted to RGB
    as PIL does; an alpha channel is dropped, as ``LoadImageFromFile`` does.
    16-bit images (PIL modes ``I;16*`` and ``I``) are scaled from
    [0, 65535] to [0, 255] instead of being clipped. The EXIF orientation is
    applied, as OpenCV's decoder does.

    Args:
        data (bytes): The encoded file.

    Returns:
        np.ndarray: The image, ``(H, W, 3)`` uint8, BGR channel order.

    Raises:
        Exception: Whatever PIL raises for data it cannot decode completely
            (e.g. ``OSError`` for a truncated file,
            ``PIL.UnidentifiedImageError`` for a non-image).
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decode everything now: truncated files fail here
        image = ImageOps.exif_transpose(image)
        if image.mode in _HIGH_DEPTH_MODES:
            gray = np.asarray(image, dtype=np.float64)
            gray = np.clip(np.rint(gray / 257), 0, 255).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=2)  # BGR = RGB
        if image.mode != 'RGB':  # convert() would copy an RGB image
            image = image.convert('RGB')
        rgb = np.asarray(image)
    # cvtColor swaps the channels about 10 times faster than numpy's
    # reversed-stride copy; the same bytes.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def upscale_to_min_size(img: np.ndarray, min_size: int) -> np.ndarray:
    """Upscale an image whose shorter side is below ``min_size``.

    Args:
        img (np.ndarray): Image, ``(H, W, C)``.
        min_size (int): Smallest allowed shorter side in pixels.

    Returns:
        np.ndarray: ``img`` itself when ``min(H, W) >= min_size``, else ``img``
        resized (bicubic, aspect ratio kept) so that its shorter side is
        ``min_size``.
    """
    h, w = img.shape[:2]
    short = min(h, w)
    if short >= min_size:
        return img
    new_h = max(min_size, round(h * min_size / short))
    new_w = max(min_size, round(w * min_size / short))
    return mmcv.imresize(img, (new_w, new_h), interpolation='bicubic')


class _SharedCounter:
    """An integer shared by the main process and its dataloader workers.

    Workers inherit it (fork) or receive it while being started (spawn), so
    their increments reach the main process. Deep copies (e.g.
    ``BaseDataset.get_subset``) share the same count.
    """

    def __init__(self) -> None:
        self._value = multiprocessing.Value('q', 0)

    def increment(self) -> None:
        with self._value.get_lock():
            self._value.value += 1

    def pop(self) -> int:
        """Return the count and reset it to 0."""
        with self._value.get_lock():
            count, self._value.value = self._value.value, 0
        return count

    def __deepcopy__(self, memo: dict) -> '_SharedCounter':
        return self


@TRANSFORMS.register_module()
class LoadImageRobust(BaseTransform):
    """Load an image file, converting odd formats and skipping broken files.

    A drop-in for ``LoadImageFromFile`` in training pipelines. Every file PIL
    can decode completely becomes a 3-channel uint8 BGR image (see
    :func:`decode_image`): grayscale, RGBA, CMYK, palette, 16-bit. Images
    whose shorter side is below ``min_size`` are upscaled to it, so that
    multi-crop boxes and region grids stay at least a few pixels wide.

    A file that cannot be read or decoded (missing, zero bytes, truncated,
    not an image) is logged with its path and, with ``on_bad_image='skip'``,
    counted and dropped: the transform returns None and mmengine's
    ``BaseDataset`` draws another index (at most ``max_refetch`` times). The
    count is shared with dataloader workers; ``BadImageCountHook`` logs it
    after every training epoch. A dataset in ``test_mode`` (val / test)
    cannot drop samples (mmengine raises on None), so check those folders
    with :func:`cmd_plugin.utils.dataset_checks.check_dataset_folder`.

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``,
    ``ori_shape`` (both the shape after any upscaling, so that every later
    geometry refers to the array the pipeline receives).

    Args:
        on_bad_image (str): ``'skip'`` to log, count and drop an unreadable
            file; ``'raise'`` to stop with an error naming it. Defaults to
            ``'skip'``.
        min_size (int): Shorter sides below this many pixels are upscaled
            to it; 0 keeps every size. Defaults to 32.
        to_float32 (bool): Return a float32 image instead of uint8.
            Defaults to False.
        backend_args (dict, optional): File backend arguments for
            :func:`mmengine.fileio.get`, as in ``LoadImageFromFile``.
            Defaults to None (chosen from the path).
    """

    def __init__(self,
                 on_bad_image: str = 'skip',
                 min_size: int = 32,
                 to_float32: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        check_choice('LoadImageRobust', 'on_bad_image', on_bad_image,
                     ON_BAD_IMAGE)
        check_int('LoadImageRobust', 'min_size', min_size, 0)
        self.on_bad_image = on_bad_image
        self.min_size = min_size
        self.to_float32 = to_float32
        self.backend_args = None if backend_args is None else dict(
            backend_args)
        self._num_skipped = _SharedCounter()

    def pop_num_skipped(self) -> int:
        """Number of files skipped since the last call, in all processes."""
        return self._num_skipped.pop()

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``.

        Args:
            results (dict): Must contain ``img_path``.

        Returns:
            dict | None: ``results`` with the image, or None when the file
            is unreadable and ``on_bad_image='skip'``.

        Raises:
            ValueError: The file is unreadable and ``on_bad_image='raise'``.
        """
        path = results['img_path']
        try:
            img = decode_image(fileio.get(path,
                                          backend_args=self.backend_args))
        except Exception as error:  # any failure to read or decode the file
            reason = f'{type(error).__name__}: {error}'
            if self.on_bad_image == 'raise':
                raise ValueError(
                    f'LoadImageRobust: cannot read image {path!r} ({reason}). '
                    'Replace or remove the file, or set '
                    "on_bad_image='skip' to skip unreadable files.") from error
            self._num_skipped.increment()
            print_log(
                f'LoadImageRobust: skipped unreadable image {path!r} '
                f'({reason}).',
                logger='current',
                level=logging.WARNING)
            return None
        if self.min_size:
            img = upscale_to_min_size(img, self.min_size)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(on_bad_image='
                f'{self.on_bad_image!r}, min_size={self.min_size}, '
                f'to_float32={self.to_float32}, '
                f'backend_args={self.backend_args!r})')
