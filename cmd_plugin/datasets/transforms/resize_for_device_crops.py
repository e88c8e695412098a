"""The loader's half of the device multi-crop: one resize to a fixed size."""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmpretrain.registry import TRANSFORMS
from ...utils.validation import check_choice, check_int

INTERPOLATIONS = ('auto', 'bilinear', 'area')


@TRANSFORMS.register_module()
class ResizeForDeviceCrops(BaseTransform):
    """Resize an image once to a square for ``CMDMultiCropPreprocessor``.

    The loader's part of the device multi-crop path (``docs/design.md``,
    "Multi-crop on the device"): the image is stretched to a square of a
    fixed size, so that a batch of any aspect ratios stacks into one uint8
    tensor, and its shape before the resize is recorded as ``ori_shape``.
    :class:`~cmd_plugin.models.utils.CMDMultiCropPreprocessor` draws the
    crop boxes in that frame, as :class:`CMDMultiCrop` draws them in the image
    it receives, and maps them into the square, which undoes the stretch: a
    crop's aspect ratio and area are those of the original image. Nothing
    random happens here.

    Pipeline::

        dict(type='LoadImageRobust', on_bad_image='skip'),
        dict(type='ResizeForDeviceCrops', size=384),
        dict(type='PackInputs', meta_keys=['img_path', 'ori_shape']),

    Required keys: ``img`` (``(H, W, 3)`` BGR as ``LoadImageRobust`` gives
    it; ``(H, W)`` grayscale and ``(H, W, 4)`` BGRA are turned into 3
    channels). Modified keys: ``img`` (``(size, size, 3)``, the input's
    dtype), ``img_shape``, ``ori_shape`` (the frame of the crop boxes: the
    shape of the image this transform received).

    Args:
        size (int): Side of the square. It bounds the detail the crops can
            get: a global crop of a quarter of the image takes about
            ``size / 2`` source pixels per side. Defaults to 384 (a
            500 x 375 CUB photo keeps its vertical resolution).
        interpolation (str): ``'bilinear'``, ``'area'`` (pixel-area averaging,
            anti-aliased, about 5 times slower), or ``'auto'``: ``'area'``
            when either side shrinks by more than 2 (where bilinear would
            alias), else ``'bilinear'``. Defaults to ``'auto'``.
    """

    def __init__(self, size: int = 384, interpolation: str = 'auto') -> None:
        check_int('ResizeForDeviceCrops', 'size', size, 1)
        check_choice('ResizeForDeviceCrops', 'interpolation', interpolation,
                     INTERPOLATIONS)
        self.size = size
        self.interpolation = interpolation

    def _flag(self, h: int, w: int) -> int:
        mode = self.interpolation
        if mode == 'auto':
            mode = 'area' if max(h, w) > 2 * self.size else 'bilinear'
        return cv2.INTER_AREA if mode == 'area' else cv2.INTER_LINEAR

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        elif img.shape[2] == 4:
            img = img[..., :3]
        h, w = img.shape[:2]
        if (h, w) != (self.size, self.size):
            img = cv2.resize(img, (self.size, self.size),
                             interpolation=self._flag(h, w))
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = (self.size, self.size)
        results['ori_shape'] = (h, w)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'interpolation={self.interpolation!r})')
