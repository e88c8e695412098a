"""Labelled image lists of a dataset folder, with a validation split.

The study reads its data as plain ``(path, label, split)`` lists: the
official CUB-200-2011 layout or an ImageNet-style ``train/`` / ``test/``
folder, and carves a fixed validation split out of the train split for
recipe choices.
"""
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

CUB_FILES = ('images.txt', 'image_class_labels.txt', 'train_test_split.txt')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


@dataclass(frozen=True)
class Sample:
    """One labelled image: path relative to the image root, label, split."""
    path: str
    label: int
    split: str


@dataclass
class LabelledImages:
    """A labelled dataset with its official train / test splits."""
    image_root: Path
    classes: List[str]
    samples: List[Sample]


def read_cub(root: Path) -> LabelledImages:
    """Read the official CUB-200-2011 layout (labels 1..C in the files)."""
    def table(name: str) -> Dict[str, str]:
        rows = (line.split(maxsplit=1)
                for line in (root / name).read_text().splitlines()
                if line.strip())
        return {key: value.strip() for key, value in rows}

    paths, labels, splits = (table(name) for name in CUB_FILES)
    label_ids = sorted({int(v) for v in labels.values()})
    index = {label: i for i, label in enumerate(label_ids)}
    names = {}
    if (root / 'classes.txt').is_file():
        names = {int(k): v for k, v in table('classes.txt').items()}
    classes = [names.get(label, str(label)) for label in label_ids]
    samples = [
        Sample(paths[i], index[int(labels[i])],
               'train' if splits[i] == '1' else 'test') for i in paths
    ]
    return LabelledImages(root / 'images', classes, samples)


def read_image_folder(root: Path) -> LabelledImages:
    """Read ``train/<class>/*`` and ``test/<class>/*`` (classes of train)."""
    classes = sorted(d.name for d in (root / 'train').iterdir() if d.is_dir())
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    for split in ('train', 'test'):
        for folder in sorted(d for d in (root / split).iterdir()
                             if d.is_dir()):
            if folder.name not in index:
                raise ValueError(
                    f'{folder} is a test class without train images; every '
                    f'test class needs a folder in {root / "train"}.')
            samples += [
                Sample(str(p.relative_to(root)), index[folder.name], split)
                for p in sorted(folder.rglob('*'))
                if p.suffix.lower() in IMAGE_EXTENSIONS
            ]
    return LabelledImages(root, classes, samples)


def read_labelled_images(root: Path) -> LabelledImages:
    """Read ``root`` in the CUB layout or as an ImageNet-style folder.

    Raises:
        ValueError: ``root`` has neither layout, or a split without images.
    """
    if all((root / name).is_file() for name in CUB_FILES):
        dataset = read_cub(root)
    elif (root / 'train').is_dir() and (root / 'test').is_dir():
        dataset = read_image_folder(root)
    else:
        raise ValueError(
            f'--data {root} is neither the CUB-200-2011 layout '
            f'({", ".join(CUB_FILES)}, images/) nor an ImageNet-style folder '
            '(train/<class>/*.jpg, test/<class>/*.jpg).')
    for split in ('train', 'test'):
        if not any(s.split == split for s in dataset.samples):
            raise ValueError(f'--data {root} has no {split} images.')
    return dataset


def carve_validation(samples: Sequence[Sample], fraction: float,
                     seed: int = 0) -> List[Sample]:
    """Move ``fraction`` of every class's train images to a ``val`` split.

    Each class keeps at least one train image and gives at least one to
    ``val`` when it has two or more. The choice depends on ``seed`` only.
    """
    rng = random.Random(seed)
    by_class: Dict[int, List[Sample]] = {}
    for s in samples:
        if s.split == 'train':
            by_class.setdefault(s.label, []).append(s)
    val = set()
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda s: s.path)
        if len(items) < 2:
            continue
        count = min(len(items) - 1, max(1, round(fraction * len(items))))
        val.update(s.path for s in rng.sample(items, count))
    return [
        Sample(s.path, s.label, 'val') if s.path in val else s
        for s in samples
    ]
