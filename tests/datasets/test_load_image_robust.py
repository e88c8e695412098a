"""LoadImageRobust: odd files become BGR uint8, broken ones are skipped."""
import copy
import logging
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from cmd_plugin.datasets.transforms import LoadImageRobust
from cmd_plugin.engine.hooks.bad_image_count_hook import find_robust_loaders

RGB = (200, 60, 20)


def write_rgb(path: Path, size=(32, 32), colour=RGB, fmt=None) -> Path:
    Image.new('RGB', size, colour).save(path, fmt)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3))
    write_rgb(path)
    Image.fromarray(noise.astype(np.uint8)).save(path, 'JPEG')
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


BAD_FILES = {
    'zero_byte.jpg': lambda p: p.write_bytes(b''),
    'truncated.jpg': write_truncated_jpeg,
    'text.jpg': lambda p: p.write_text('not an image\n'),
}


@pytest.fixture
def log_records():
    """Records logged to mmengine's current logger during the test."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def load(path: Path, **kwargs):
    return LoadImageRobust(**kwargs)(dict(img_path=str(path)))


def assert_bgr_image(results: dict, shape) -> np.ndarray:
    img = results['img']
    assert img.dtype == np.uint8 and img.shape == (*shape, 3)
    assert results['img_shape'] == results['ori_shape'] == shape
    return img


def test_grayscale(tmp_path: Path) -> None:
    path = tmp_path / 'gray.png'
    Image.new('L', (32, 48), 100).save(path)
    img = assert_bgr_image(load(path), (48, 32))
    assert (img == 100).all()


def test_rgba_drops_alpha_and_is_bgr(tmp_path: Path) -> None:
    path = tmp_path / 'rgba.png'
    Image.new('RGBA', (32, 32), (*RGB, 0)).save(path)
    img = assert_bgr_image(load(path), (32, 32))
    assert tuple(img[0, 0]) == RGB[::-1]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / 'cmyk.jpg'
    Image.new('RGB', (32, 32), RGB).convert('CMYK').save(path, 'JPEG')
    assert Image.open(path).mode == 'CMYK'
    img = assert_bgr_image(load(path), (32, 32))
    np.testing.assert_allclose(img[16, 16], RGB[::-1], atol=6)


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / 'deep.png'
    pixels = np.full((32, 32), 65535, dtype=np.uint16)
    pixels[:, :16] = 257 * 100
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode == 'I;16'
    img = assert_bgr_image(load(path), (32, 32))
    assert (img[:, :16] == 100).all() and (img[:, 16:] == 255).all()


def test_palette(tmp_path: Path) -> None:
    path = tmp_path / 'palette.png'
    image = Image.new('P', (32, 32), 1)
    image.putpalette([0, 0, 0, *RGB] + [0] * 762)
    image.save(path)
    assert Image.open(path).mode == 'P'
    img = assert_bgr_image(load(path), (32, 32))
    assert tuple(img[5, 5]) == RGB[::-1]


def test_tiny_image_is_upscaled_keeping_aspect(tmp_path: Path) -> None:
    path = write_rgb(tmp_path / 'tiny.png', size=(16, 8))
    img = assert_bgr_image(load(path, min_size=32), (32, 64))
    assert tuple(img[10, 10]) == RGB[::-1]
    assert_bgr_image(load(path, min_size=0), (8, 16))
    square = write_rgb(tmp_path / 'square.png', size=(8, 8))
    assert_bgr_image(load(square), (32, 32))  # default min_size=32


def test_to_float32(tmp_path: Path) -> None:
    path = write_rgb(tmp_path / 'rgb.png', size=(32, 32))
    img = load(path, to_float32=True)['img']
    assert img.dtype == np.float32 and img[0, 0, 2] == RGB[0]


@pytest.mark.parametrize('name', [*BAD_FILES, 'missing.jpg'])
def test_bad_file_is_skipped_and_counted(tmp_path: Path, name: str,
                                         log_records: list) -> None:
    path = tmp_path / name
    if name in BAD_FILES:
        BAD_FILES[name](path)
    transform = LoadImageRobust()
    assert transform(dict(img_path=str(path))) is None
    assert transform(dict(img_path=str(path))) is None
    assert transform.pop_num_skipped() == 2
    assert transform.pop_num_skipped() == 0
    warnings = [r.getMessage() for r in log_records]
    assert len(warnings) == 2 and str(path) in warnings[0]
    assert all(r.levelno == logging.WARNING for r in log_records)


@pytest.mark.parametrize('name', BAD_FILES)
def test_bad_file_raises_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    BAD_FILES[name](path)
    with pytest.raises(ValueError, match=str(path)) as error:
        load(path, on_bad_image='raise')
    assert "on_bad_image='skip'" in str(error.value)


def test_invalid_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="'ignore'.*'skip', 'raise'"):
        LoadImageRobust(on_bad_image='ignore')
    with pytest.raises(ValueError, match='min_size.*-1'):
        LoadImageRobust(min_size=-1)


class Loaded(Dataset):
    """Runs a transform on each path; 1 for a loaded image, 0 if skipped."""

    def __init__(self, transform: LoadImageRobust, paths: list) -> None:
        self.transform = transform
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> int:
        return int(self.transform(dict(img_path=self.paths[i])) is not None)


def test_count_reaches_main_process_from_workers(tmp_path: Path) -> None:
    good = [str(write_rgb(tmp_path / f'{i}.png')) for i in range(3)]
    bad = []
    for name, write in BAD_FILES.items():
        write(tmp_path / name)
        bad.append(str(tmp_path / name))
    transform = LoadImageRobust()
    loader = DataLoader(
        Loaded(transform, good + bad), batch_size=2, num_workers=2)
    assert sum(int(batch.sum()) for batch in loader) == len(good)
    assert transform.pop_num_skipped() == len(bad)
    assert transform.pop_num_skipped() == 0
    twin = copy.deepcopy(transform)
    twin(dict(img_path=bad[0]))
    assert transform.pop_num_skipped() == 1


class MeanModel(BaseModel):
    """Regresses the mean pixel to zero with one weight."""

    def __init__(self) -> None:
        super().__init__(data_preprocessor=dict(type='ImgDataPreprocessor'))
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        loss = (self.weight * inputs.float().mean() / 255)**2
        return dict(loss=loss) if mode == 'loss' else loss


def test_hook_logs_skips_per_epoch(tmp_path: Path) -> None:
    images = tmp_path / 'images'
    images.mkdir()
    for i in range(7):
        write_rgb(images / f'{i}.png')
    BAD_FILES['truncated.jpg'](images / 'truncated.jpg')
    dataset = dict(
        type='CustomDataset',
        data_root=str(images),
        with_label=False,
        pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='Resize', scale=(16, 16)),
            dict(type='PackInputs')
        ])
    runner = Runner(
        model=MeanModel(),
        work_dir=str(tmp_path / 'work'),
        experiment_name=uuid.uuid4().hex,  # unique scope and message hub
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4,
            num_workers=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[dict(type='BadImageCountHook')],
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        log_level='WARNING')
    runner.train()
    (loader, ) = find_robust_loaders(runner.train_dataloader.dataset)
    assert loader.pop_num_skipped() == 0  # the hook took every count
    log = next((tmp_path / 'work').glob('*/*.log')).read_text()
    for epoch in (1, 2):
        line = next(line for line in log.splitlines()
                    if f'Epoch {epoch}: ' in line)
        assert int(line.split(f'Epoch {epoch}: ')[1].split()[0]) >= 1
    assert 'truncated.jpg' in log
