"""check_dataset_folder names empty class folders and missing images."""
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from cmd_plugin.utils.dataset_checks import (MAX_LISTED, check_dataset_config,
                                           check_dataset_folder)


@pytest.fixture
def cub(tiny_cub: Path, tmp_path: Path) -> Path:
    """A private copy of the session's 3-class, 12-image CUB folder."""
    return Path(shutil.copytree(tiny_cub, tmp_path / 'CUB_200_2011'))


def test_clean_cub_folder_passes(cub: Path) -> None:
    assert check_dataset_folder(cub) == 12


def test_cub_missing_images_and_empty_class(cub: Path) -> None:
    images = cub / 'images'
    removed = sorted(images.glob('001.*/*.jpg'))
    for path in removed:
        path.unlink()
    (images / '004.Class_4').mkdir()
    with pytest.raises(ValueError) as error:
        check_dataset_folder(cub)
    message = str(error.value)
    assert '2 class folders' in message
    assert '001.Class_1' in message and '004.Class_4' in message
    assert f'{len(removed)} images named in' in message
    for path in removed:
        assert f'{path.parent.name}/{path.name}' in message


def test_long_lists_are_cut_with_the_count(tmp_path: Path) -> None:
    root = tmp_path / 'imagenet_style'
    for c in range(MAX_LISTED + 5):
        (root / f'class_{c:02d}').mkdir(parents=True)
    with pytest.raises(ValueError) as error:
        check_dataset_folder(root)
    message = str(error.value)
    assert f'{MAX_LISTED + 5} class folders' in message
    assert '(and 5 more)' in message
    assert len(re.findall(r'class_\d\d', message)) == MAX_LISTED


def test_imagenet_style_with_split_file(tmp_path: Path) -> None:
    root = tmp_path / 'data'
    (root / 'a').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(root / 'a' / 'x.JPEG')
    (root / 'train.txt').write_text('a/x.JPEG 0\na/gone.JPEG 0\n\n')
    with pytest.raises(ValueError, match=r'1 images named in .*a/gone.JPEG'):
        check_dataset_folder(root, ann_file='train.txt')
    (root / 'train.txt').write_text('a/x.JPEG 0\n')
    assert check_dataset_folder(root, ann_file='train.txt') == 1
    assert check_dataset_folder(root) == 1


def test_missing_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='nowhere'):
        check_dataset_folder(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='val.txt'):
        check_dataset_folder(tmp_path, ann_file='val.txt')


def test_dataset_config_missing_root_names_key_and_path(tmp_path):
    cfg = dict(type='CUB', data_root=str(tmp_path / 'nowhere'), split='train')
    with pytest.raises(FileNotFoundError,
                       match=r'train_dataloader\.dataset\.data_root=.*nowhere'):
        check_dataset_config(cfg, 'train_dataloader.dataset')


def test_dataset_config_lists_missing_layout_files(tmp_path):
    (tmp_path / 'images.txt').write_text('')
    with pytest.raises(FileNotFoundError,
                       match='missing image_class_labels.txt, '
                       'train_test_split.txt, images/'):
        check_dataset_config(dict(type='CUB', data_root=str(tmp_path)), 'd')
    aircraft = dict(type='FGVCAircraft', data_root=str(tmp_path),
                    split='trainval')
    with pytest.raises(FileNotFoundError,
                       match='data/images_variant_trainval.txt'):
        check_dataset_config(aircraft, 'd')


def test_dataset_config_recurses_into_labelled_splits(tiny_cub, tmp_path):
    good = dict(type='CUB', data_root=str(tiny_cub))
    check_dataset_config(
        dict(type='LabelledSplits', train=good, test=good), 'test')
    bad = dict(type='StanfordCars', data_root=str(tmp_path), split='test')
    with pytest.raises(FileNotFoundError,
                       match=r'test\.test\.data_root.*cars_test_annos'):
        check_dataset_config(
            dict(type='LabelledSplits', train=good, test=bad), 'test')
