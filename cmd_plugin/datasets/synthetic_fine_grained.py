"""A procedurally generated fine-grained dataset whose classes live in a few
small key parts."""
import itertools
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from ..utils.validation import check_choice, check_int, check_number

SPLITS = ('train', 'test')
SHAPES = ('disc', 'square', 'triangle', 'cross', 'ring')
PALETTE = {  # RGB
    'red': (220, 30, 30),
    'green': (30, 170, 40),
    'blue': (30, 60, 225),
    'yellow': (240, 225, 30),
    'magenta': (215, 40, 205),
    'cyan': (40, 215, 225),
    'orange': (250, 135, 20),
    'white': (245, 245, 245),
}
MAX_PARTS = 3
# Seed of the fixed shuffle that turns part combinations into class codes. It
# is a constant so that class ``c`` means the same parts for every ``seed``.
_CODE_SEED = 20240116
# Geometry, as fractions of the image side.
_PART_SIDE = (0.14, 0.22)
_STROKE_LENGTH = (0.15, 0.35)
_STROKE_ASPECT = (3.0, 6.0)
_GRID = 3  # key parts sit in distinct cells of a 3 x 3 grid, never overlap


class PartType(NamedTuple):
    """A kind of key part: a shape in a colour."""
    shape: str
    colour: str


class KeyPart(NamedTuple):
    """One key part drawn in an image.

    Attributes:
        shape (str): One of :data:`SHAPES`.
        colour (str): A key of :data:`PALETTE`.
        box (tuple[int, int, int, int]): ``(x1, y1, x2, y2)`` in pixels of
            the generated image, ``x2`` / ``y2`` exclusive.
    """
    shape: str
    colour: str
    box: Tuple[int, int, int, int]


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of ``shape`` at box coordinates ``u, v`` in ``[-1, 1]``.

    Args:
        shape (str): One of :data:`SHAPES`.
        u (np.ndarray): Horizontal coordinates, any shape.
        v (np.ndarray): Vertical coordinates (down is positive), same shape.

    Returns:
        np.ndarray: Boolean mask, the shape of ``u``.
    """
    r2 = u**2 + v**2
    if shape == 'disc':
        return r2 <= 1.0
    if shape == 'square':
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == 'triangle':  # apex up, base down
        return (v <= 0.85) & (np.abs(u) <= (v + 0.95) * 0.55)
    if shape == 'cross':
        return (((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95))
                | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95)))
    if shape == 'ring':
        return (r2 <= 1.0) & (r2 >= 0.3)
    raise ValueError(f'Unknown shape {shape!r}. Valid shapes are '
                     f'{list(SHAPES)}.')


@DATASETS.register_module()
class SyntheticFineGrained(BaseDataset):
    """Generated images whose class is decided by a few small key parts.

    Each class is a fixed set of ``num_parts`` distinct part types, a part
    type being a shape (:data:`SHAPES`) in a palette colour
    (:data:`PALETTE`). An image of the class shows exactly those parts, each
    small (14-22 % of the image side), at a random place (a random cell of a
    3 x 3 grid, jittered inside it) and a random scale, with a little colour
    noise. Everything else is shared by all classes: a smooth random colour
    field, a random grating, pixel noise, ``num_distractors`` thin strokes
    in the *same* palette colours, and a random per-channel illumination
    gain. So the key parts tell the classes apart (which shapes carry
    which colours) and whole-image colour statistics barely do: with 10
    classes and 300 training images each, softmax regression on the
    per-channel mean and std of the image reaches about 13 % test accuracy
    (chance: 10 %), on the key parts' pixels about 99 %.

    This is a smoke test of the mechanism CMD's multi-instance weighting
    targets (a few patches decide the label, the rest is clutter), runnable
    on a CPU in seconds. It is not a benchmark: there is no pose, occlusion,
    deformation or natural texture, and accuracy on it says nothing about
    CUB, Cars or Aircraft.

    Images are generated in memory, lazily, in :meth:`prepare_data`: image
    ``k`` of class ``c`` comes from ``(seed, split, c, k)`` only, so the same
    arguments give identical pixels, ``num_classes`` / ``num_per_class``
    can grow without changing existing images, and building the dataset
    costs nothing. The pipeline receives what ``LoadImageFromFile`` would
    give (``img``: uint8 ``(H, W, 3)`` BGR, ``img_shape``, ``ori_shape``)
    plus ``gt_label``, so it must *not* start with ``LoadImageFromFile``.
    ``tools/make_synthetic_dataset.py`` writes the splits to disk for an
    ImageNet-style folder dataset instead.

    Classes are named ``'part_00'``, ``'part_01'``, ... (override them with
    ``metainfo=dict(classes=...)``); :attr:`class_parts` says which part
    types make each class. The class definitions do not depend on ``seed``.

    Args:
        split (str): ``'train'`` or ``'test'``; the splits are drawn from
            different random streams. Defaults to ``'train'``.
        num_classes (int): Number of classes, at most
            ``C(len(SHAPES) * len(PALETTE), num_parts)``. Defaults to 10.
        num_per_class (int): Images per class in this split. Defaults to 100.
        image_size (int): Side of the square images, >= 32. Defaults to 64.
        num_parts (int): Key parts per image, 1 to 3. Defaults to 2.
        num_distractors (int): Palette-coloured strokes of clutter per
            image. Defaults to 8.
        background_contrast (float): Scales how far the colour field
            strays from mid-grey and the grating's amplitude, in
            ``[0, 1]``: 1 is the full clutter described above, 0 a grey
            background with pixel noise. The random draws do not depend on
            it. Defaults to 1.0.
        part_size (tuple[float, float]): Range of a key part's side as a
            fraction of the image side, within ``(0, 1 / 3]`` (a part fits
            its grid cell). Defaults to (0.14, 0.22).
        seed (int): Non-negative seed of the images. Defaults to 0.
        metainfo (dict, optional): Meta information; its ``classes``, if
            given, must have ``num_classes`` names. Defaults to None.
        pipeline (Sequence): Transforms (configs or callables) applied to
            the generated image. Defaults to an empty tuple.
        test_mode (bool): As in mmengine's ``BaseDataset``. Defaults to False.
        lazy_init (bool): As in mmengine's ``BaseDataset``. Defaults to False.
        indices (int | Sequence[int], optional): Keep only these samples (or
            the first ones); pixels do not change. Defaults to None.

    Examples:
        >>> from mmpretrain.registry import DATASETS
        >>> dataset = DATASETS.build(dict(
        ...     type='SyntheticFineGrained', split='train', num_classes=4,
        ...     num_per_class=8, image_size=64,
        ...     pipeline=[dict(type='RandomResizedCrop', scale=32),
        ...               dict(type='PackInputs')]))
        >>> len(dataset), dataset[0]['inputs'].shape
        (32, torch.Size([3, 32, 32]))
    """

    def __init__(self,
                 split: str = 'train',
                 num_classes: int = 10,
                 num_per_class: int = 100,
                 image_size: int = 64,
                 num_parts: int = 2,
                 num_distractors: int = 8,
                 background_contrast: float = 1.0,
                 part_size: Tuple[float, float] = _PART_SIDE,
                 seed: int = 0,
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None) -> None:
        owner = 'SyntheticFineGrained'
        check_choice(owner, 'split', split, SPLITS)
        check_int(owner, 'num_parts', num_parts, 1, MAX_PARTS)
        num_types = len(SHAPES) * len(PALETTE)
        check_int(owner, 'num_classes', num_classes, 2,
                  math.comb(num_types, num_parts))
        check_int(owner, 'num_per_class', num_per_class, 1)
        check_int(owner, 'image_size', image_size, 32)
        check_int(owner, 'num_distractors', num_distractors, 0)
        check_number(owner, 'background_contrast', background_contrast, 0,
                     1)
        if (not isinstance(part_size, (tuple, list)) or len(part_size) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(
                    v, bool) for v in part_size)
                or not 0 < part_size[0] <= part_size[1] <= 1 / _GRID):
            raise ValueError(
                f'{owner}.part_size: must be (low, high) with 0 < low <= high '
                f'<= 1/{_GRID}, got {part_size!r}.')
        check_int(owner, 'seed', seed, 0)
        width = max(2, len(str(num_classes - 1)))
        names = tuple(f'part_{c:0{width}d}' for c in range(num_classes))
        metainfo = {'classes': names, **(metainfo or {})}
        if len(metainfo['classes']) != num_classes:
            raise ValueError(
                f'metainfo classes has {len(metainfo["classes"])} names, but '
                f'num_classes is {num_classes}.')

        self.split = split
        self.num_classes = num_classes
        self.num_per_class = num_per_class
        self.image_size = image_size
        self.num_parts = num_parts
        self.num_distractors = num_distractors
        self.background_contrast = float(background_contrast)
        self.part_size = tuple(float(v) for v in part_size)
        self.seed = seed
        self.class_parts = self._class_codes(num_classes, num_parts)
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            # the data list is a few ints per image: serialising it would
            # save nothing and costs a full gc.collect() per dataset
            serialize_data=False,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            indices=indices)

    @staticmethod
    def _class_codes(num_classes: int,
                     num_parts: int) -> Tuple[Tuple[PartType, ...], ...]:
        """The part types of each class: the first ``num_classes`` of a
        fixed shuffle of all combinations of ``num_parts`` part types."""
        types = [PartType(s, c) for s in SHAPES for c in PALETTE]
        combos = list(itertools.combinations(types, num_parts))
        order = np.random.default_rng(_CODE_SEED).permutation(len(combos))
        return tuple(combos[i] for i in order[:num_classes])

    def load_data_list(self) -> List[dict]:
        """One entry per image: its label and its index within the class.

        Returns:
            list[dict]: ``dict(gt_label=c, instance=k)``, class-major.
        """
        return [
            dict(gt_label=c, instance=k) for c in range(self.num_classes)
            for k in range(self.num_per_class)
        ]

    def prepare_data(self, idx: int) -> dict:
        """Generate image ``idx`` and run the pipeline on it.

        Args:
            idx (int): Index into the dataset.

        Returns:
            dict: The pipeline's output; its input has ``img`` (uint8
            ``(H, W, 3)`` BGR), ``img_shape``, ``ori_shape``, ``gt_label``
            and ``sample_idx``.
        """
        results = self.get_data_info(idx)
        img, _ = self._render(results['gt_label'], results['instance'])
        results.update(
            img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return self.pipeline(results)

    def render(self, idx: int) -> Tuple[np.ndarray, List[KeyPart]]:
        """Generate image ``idx`` without the pipeline, with its key parts.

        Args:
            idx (int): Index into the dataset.

        Returns:
            tuple[np.ndarray, list[KeyPart]]: The uint8 ``(H, W, 3)`` BGR
            image and its ``num_parts`` key parts, in the order of
            :attr:`class_parts`.
        """
        info = self.get_data_info(idx)
        return self._render(info['gt_label'], info['instance'])

    def _render(self, label: int,
                instance: int) -> Tuple[np.ndarray, List[KeyPart]]:
        """Draw image ``instance`` of class ``label`` (see :meth:`render`)."""
        rng = np.random.default_rng(
            [self.seed, SPLITS.index(self.split), label, instance])
        size = self.image_size
        pix = np.arange(size) + 0.5
        ys, xs = np.meshgrid(pix, pix, indexing='ij')

        # Background: smooth colour field + grating + noise, class-blind.
        cells = rng.integers(2, 5)
        field = rng.uniform(50, 200, size=(cells, cells, 3)).astype(np.uint8)
        img = np.asarray(
            Image.fromarray(field).resize((size, size), Image.BILINEAR),
            dtype=np.float64)
        contrast = self.background_contrast
        if contrast != 1:
            img = 125 + contrast * (img - 125)
        theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        period = rng.uniform(0.1, 0.3) * size
        img += contrast * rng.uniform(5, 25) * np.sin(
            2 * np.pi * (xs * np.cos(theta) + ys * np.sin(theta)) / period +
            phase)[..., None]

        # Clutter: thin strokes in the palette colours of the key parts.
        colours = list(PALETTE.values())
        for _ in range(self.num_distractors):
            cx, cy = rng.uniform(0, size, 2)
            length = rng.uniform(*_STROKE_LENGTH) * size / 2
            width = length / rng.uniform(*_STROKE_ASPECT)
            angle = rng.uniform(0, np.pi)
            du, dv = xs - cx, ys - cy
            along = du * np.cos(angle) + dv * np.sin(angle)
            across = -du * np.sin(angle) + dv * np.cos(angle)
            mask = (along / length)**2 + (across / width)**2 <= 1
            img[mask] = np.asarray(colours[rng.integers(len(colours))]) \
                * rng.uniform(0.7, 1.0)

        # Key parts: the class's part types in distinct grid cells.
        cell = size / _GRID
        slots = rng.choice(_GRID * _GRID, self.num_parts, replace=False)
        parts = []
        for part, slot in zip(self.class_parts[label], slots):
            half = rng.uniform(*self.part_size) * size / 2
            cx = (slot % _GRID) * cell + rng.uniform(half, cell - half)
            cy = (slot // _GRID) * cell + rng.uniform(half, cell - half)
            x1, y1 = int(np.floor(cx - half)), int(np.floor(cy - half))
            x2, y2 = int(np.ceil(cx + half)), int(np.ceil(cy + half))
            mask = _shape_mask(part.shape, (xs[y1:y2, x1:x2] - cx) / half,
                               (ys[y1:y2, x1:x2] - cy) / half)
            colour = np.asarray(PALETTE[part.colour]) + rng.normal(0, 8, 3)
            img[y1:y2, x1:x2][mask] = colour
            parts.append(KeyPart(part.shape, part.colour, (x1, y1, x2, y2)))

        img += rng.normal(0, 8, size=img.shape)
        img *= rng.uniform(0.8, 1.2, size=3)  # illumination
        rgb = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(rgb[..., ::-1]), parts

    def extra_repr(self) -> List[str]:
        """The generator's settings, for ``repr``."""
        return [
            f'Split: \t{self.split}', f'Image size: \t{self.image_size}',
            f'Key parts per image: \t{self.num_parts}',
            f'Distractors per image: \t{self.num_distractors}',
            f'Background contrast: \t{self.background_contrast}',
            f'Key part size: \t{self.part_size}',
            f'Seed: \t{self.seed}'
        ]
