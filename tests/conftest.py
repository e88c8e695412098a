"""Shared fixtures: tiny generated datasets, never real data."""
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

import cmd_plugin  # noqa: F401  (registers the plugin)
from tiny_configs import tiny_cmd_checkpoint

# One intra-op thread: the tiny models of the tests run faster on a few
# shared CPU cores than with torch's default of one thread per core.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Make 'mmpretrain' the current default scope for every test.

    mmengine keeps the most recently created ``DefaultScope`` as current; a
    Runner built by an earlier test without ``default_scope`` leaves
    'mmengine' there, and registry builds would then miss the plugin.
    """
    DefaultScope.get_instance(f'test-{uuid.uuid4().hex}',
                              scope_name='mmpretrain')


def write_cub_layout(root: Path,
                     num_classes: int = 3,
                     per_class: int = 4,
                     size: int = 48,
                     seed: int = 0,
                     class_colour: bool = True) -> Path:
    """Write a tiny dataset in the official CUB-200-2011 layout.

    Half of each class's images go to the train split, half to test. Each
    class has its own dominant colour so that features can separate them;
    with ``class_colour=False`` every image is plain noise instead (metrics
    then land between 0 and 100, not at 100).

    Returns:
        Path: the ``CUB_200_2011`` folder (the ``data_root`` of a config).
    """
    rng = np.random.default_rng(seed)
    root = Path(root) / 'CUB_200_2011'
    images, labels, splits, classes = [], [], [], []
    image_id = 0
    for c in range(num_classes):
        folder = f'{c + 1:03d}.Class_{c + 1}'
        classes.append(f'{c + 1} {folder}')
        (root / 'images' / folder).mkdir(parents=True, exist_ok=True)
        colour = rng.integers(0, 256, size=3)
        for k in range(per_class):
            image_id += 1
            noise = rng.integers(-40, 40, size=(size, size, 3))
            pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
            if not class_colour:
                pixels = rng.integers(0, 256, (size, size, 3), np.uint8)
            name = f'{folder}/img_{k:04d}.jpg'
            Image.fromarray(pixels).save(root / 'images' / name)
            images.append(f'{image_id} {name}')
            labels.append(f'{image_id} {c + 1}')
            splits.append(f'{image_id} {int(k < per_class // 2)}')
    for fname, lines in (('images.txt', images),
                         ('image_class_labels.txt', labels),
                         ('train_test_split.txt', splits),
                         ('classes.txt', classes)):
        (root / fname).write_text('\n'.join(lines) + '\n')
    return root


@pytest.fixture(scope='session')
def tiny_cub(tmp_path_factory) -> Path:
    """A 3-class, 12-image CUB-layout folder shared by the whole session."""
    return write_cub_layout(tmp_path_factory.mktemp('tiny_cub'))


@pytest.fixture(scope='session')
def tiny_vit(tmp_path_factory):
    """``(config, checkpoint, model)`` of a tiny CMD ViT whose teacher
    differs from its student (:func:`tiny_configs.tiny_cmd_checkpoint`)."""
    return tiny_cmd_checkpoint(tmp_path_factory.mktemp('tiny_vit'), 'vit')
