"""Multi-crop augmentation that remembers where every crop came from."""
import copy
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.image.geometric import cv2_interp_codes
from mmcv.transforms import BaseTransform, Compose
from mmengine.registry import DefaultScope

from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from ...utils.validation import (check_choice, check_int, check_number,
                                 check_scale_range)


def dino_photometric(blur_prob: float, solarize_prob: float) -> List[dict]:
    """DINO's photometric augmentation as mmpretrain / mmcv transform configs.

    Colour jitter (0.4, 0.4, 0.2, 0.1) with p=0.8, grayscale with p=0.2,
    Gaussian blur (radius uniform in [0.1, 2]) with ``blur_prob`` and
    solarisation at 128 with ``solarize_prob``.
    """
    pipeline = [
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4,
                              contrast=0.4, saturation=0.2, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=blur_prob),
    ]
    if solarize_prob > 0:
        pipeline.append(dict(type='Solarize', thr=128, prob=solarize_prob))
    return pipeline


DEFAULT_GLOBAL_PIPELINES = (dino_photometric(1.0, 0.0),
                            dino_photometric(0.1, 0.2))
DEFAULT_LOCAL_PIPELINE = dino_photometric(0.5, 0.0)


def _check_pipeline(name: str, pipeline: Sequence[dict]) -> None:
    if not isinstance(pipeline, (list, tuple)) or not all(
            isinstance(t, dict) for t in pipeline):
        raise ValueError(f'CMDMultiCrop.{name}: must be a list of transform '
                         f'configs (dicts), got {pipeline!r}.')


@TRANSFORMS.register_module()
class CMDMultiCrop(BaseTransform):
    """Global image crops plus local region crops, with their boxes.

    Every crop is a random resized crop, flipped horizontally with
    ``flip_prob`` and then augmented photometrically. Global crop ``g`` uses
    ``global_pipelines[g]`` (DINO: blur p=1 for the first, blur p=0.1 and
    solarisation p=0.2 for the second), local crops use ``local_pipeline``
    (blur p=0.5). The pipelines are lists of mmpretrain / mmcv transform
    configs.

    Required keys: ``img``. Modified keys: ``img`` (a list of
    ``num_global + num_local`` crops, the global ones first),
    ``img_shape``. Added keys: ``crop_boxes`` (``(V, 4)`` float32
    ``x1, y1, x2, y2`` in original-image pixels) and ``crop_flips``
    (``(V,)`` bool). Add both to ``PackInputs(meta_keys=...)`` so they reach
    the model.

    Args:
        global_size (int): Side of the global crops. Defaults to 224.
        global_scale (tuple[float, float]): Area range of the global crops
            relative to the image. Defaults to (0.25, 1.0).
        num_local (int): Number of local crops ``M``. Defaults to 10.
        local_size (int, optional): Side of the local crops; required when
            ``num_local > 0``. Defaults to 96.
        local_scale (tuple[float, float]): Area range of the local crops.
            Defaults to (0.05, 0.25).
        flip_prob (float): Probability of a horizontal flip per crop.
            Defaults to 0.5.
        global_pipelines (list[list[dict]], optional): One photometric
            pipeline per global crop; their number sets the number of global
            crops. Defaults to DINO's two.
        local_pipeline (list[dict], optional): Photometric pipeline of the
            local crops. Defaults to DINO's.
        interpolation (str): Resize interpolation: ``'nearest'``,
            ``'bilinear'``, ``'bicubic'``, ``'area'`` or ``'lanczos'``.
            Defaults to 'bicubic'.
    """

    def __init__(self,
                 global_size: int = 224,
                 global_scale: Sequence[float] = (0.25, 1.0),
                 num_local: int = 10,
                 local_size: Optional[int] = 96,
                 local_scale: Sequence[float] = (0.05, 0.25),
                 flip_prob: float = 0.5,
                 global_pipelines: Optional[List[List[dict]]] = None,
                 local_pipeline: Optional[List[dict]] = None,
                 interpolation: str = 'bicubic') -> None:
        check_int('CMDMultiCrop', 'num_local', num_local, 0)
        if num_local > 0 and not local_size:
            raise ValueError(
                f'CMDMultiCrop.local_size: num_local={num_local} local crops '
                'requested but local_size is not set. Set local_size (e.g. '
                '96) or num_local=0.')
        check_int('CMDMultiCrop', 'global_size', global_size, 1)
        if num_local:
            check_int('CMDMultiCrop', 'local_size', local_size, 1)
        check_number('CMDMultiCrop', 'flip_prob', flip_prob, 0, 1)
        check_choice('CMDMultiCrop', 'interpolation', interpolation,
                     tuple(cv2_interp_codes))
        if global_pipelines is None:
            global_pipelines = DEFAULT_GLOBAL_PIPELINES
        if local_pipeline is None:
            local_pipeline = DEFAULT_LOCAL_PIPELINE
        if not isinstance(global_pipelines, (list, tuple)) or \
                not global_pipelines:
            raise ValueError('CMDMultiCrop.global_pipelines: must list one '
                             'pipeline per global crop (at least one), got '
                             f'{global_pipelines!r}.')
        for g, pipeline in enumerate(global_pipelines):
            _check_pipeline(f'global_pipelines[{g}]', pipeline)
        _check_pipeline('local_pipeline', local_pipeline)
        global_pipelines = copy.deepcopy(list(global_pipelines))
        self.global_size = global_size
        self.global_scale = check_scale_range('CMDMultiCrop',
                                              'global_scale', global_scale)
        self.num_local = num_local
        self.local_size = local_size
        self.local_scale = check_scale_range('CMDMultiCrop', 'local_scale',
                                             local_scale)
        self.flip_prob = flip_prob
        self.interpolation = interpolation
        self.global_crop = RandomResizedCrop(
            scale=global_size, crop_ratio_range=self.global_scale)
        self.local_crop = RandomResizedCrop(
            scale=local_size or 1, crop_ratio_range=self.local_scale)
        # Build under mmpretrain's scope so nested configs (RandomApply's
        # transforms) find mmpretrain's transforms even outside a Runner.
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.global_pipelines = [Compose(p) for p in global_pipelines]
            self.local_pipeline = Compose(copy.deepcopy(local_pipeline))

    @property
    def num_global(self) -> int:
        return len(self.global_pipelines)

    def _crop(self, img: np.ndarray, cropper: RandomResizedCrop,
              pipeline: Compose) -> Tuple[np.ndarray, List[float], bool]:
        """One crop: its pixels, its box (x1, y1, x2, y2) and flip flag."""
        top, left, h, w = cropper.rand_crop_params(img)
        patch = mmcv.imresize(
            img[top:top + h, left:left + w],
            cropper.scale[::-1],
            interpolation=self.interpolation)
        flip = bool(np.random.rand() < self.flip_prob)
        if flip:
            patch = mmcv.imflip(patch, direction='horizontal')
        patch = pipeline(dict(img=patch, img_shape=patch.shape[:2]))['img']
        return patch, [left, top, left + w, top + h], flip

    def transform(self, results: dict) -> dict:
        img = results['img']
        jobs = [(self.global_crop, p) for p in self.global_pipelines]
        jobs += [(self.local_crop, self.local_pipeline)] * self.num_local
        crops, boxes, flips = zip(*(self._crop(img, c, p) for c, p in jobs))
        results['img'] = list(crops)
        results['img_shape'] = crops[0].shape[:2]
        results['crop_boxes'] = np.asarray(boxes, dtype=np.float32)
        results['crop_flips'] = np.asarray(flips, dtype=bool)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_global={self.num_global}, '
                f'global_size={self.global_size}, '
                f'global_scale={self.global_scale}, '
                f'num_local={self.num_local}, local_size={self.local_size}, '
                f'local_scale={self.local_scale}, '
                f'flip_prob={self.flip_prob})')
