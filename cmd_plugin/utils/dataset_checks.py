"""Check an image folder before training: empty classes, missing files."""
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

#: The extensions mmpretrain's ``CustomDataset`` collects (case-insensitive).
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')
#: How many names an error message lists per problem.
MAX_LISTED = 10


def _is_image(name: str, extensions: Sequence[str]) -> bool:
    return name.lower().endswith(tuple(extensions))


def _has_image(folder: Path, extensions: Sequence[str]) -> bool:
    """Whether ``folder`` or a folder below it holds an image file."""
    return any(
        _is_image(name, extensions) for _, _, names in os.walk(folder)
        for name in names)


def _listed_names(list_file: Path, column: int) -> List[str]:
    """The ``column``-th whitespace-separated field of each non-empty line."""
    names = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) <= column:
            raise ValueError(f'{list_file}, line {number}: expected at least '
                             f'{column + 1} fields, got {line!r}.')
        names.append(fields[column])
    return names


def _describe(count: int, what: str, names: List[str]) -> str:
    shown = ', '.join(names[:MAX_LISTED])
    more = f' (and {count - MAX_LISTED} more)' if count > MAX_LISTED else ''
    return f'{count} {what}: {shown}{more}'


def check_dataset_folder(
        data_root: Union[str, os.PathLike],
        ann_file: Optional[Union[str, os.PathLike]] = None,
        extensions: Sequence[str] = IMG_EXTENSIONS) -> int:
    """Check a CUB-200-2011 or ImageNet-style folder before training.

    The layout is recognised from the folder:

    * CUB-200-2011 (``data_root/images.txt`` exists): class folders are the
      folders in ``data_root/images``, and every path in the second column
      of ``images.txt`` must exist below ``data_root/images``.
    * ImageNet style (otherwise): class folders are the folders in
      ``data_root``; with ``ann_file`` (lines ``<relative path> [label]``, as
      mmpretrain's ``CustomDataset`` reads them), every listed path must
      exist below ``data_root``.

    Args:
        data_root (str | os.PathLike): The dataset folder.
        ann_file (str | os.PathLike, optional): ImageNet style only: a split
            file, relative to ``data_root`` or absolute. Defaults to None.
        extensions (Sequence[str]): File endings that count as images.
            Defaults to :data:`IMG_EXTENSIONS`.

    Returns:
        int: The number of images listed (a split file) or found (class
        folders only).

    Raises:
        FileNotFoundError: ``data_root`` or ``ann_file`` does not exist.
        ValueError: Some class folders hold no image, some listed images
            are missing, or there are no class folders and no split file.
            The message gives the count and up to :data:`MAX_LISTED` names
            of each problem.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f'Dataset folder {str(root)!r} does not '
                                'exist; check data_root in the config.')
    if (root / 'images.txt').is_file():
        if ann_file is not None:
            raise ValueError(f'{str(root)!r} has the CUB-200-2011 layout, '
                             'whose split file is images.txt; do not pass '
                             f'ann_file={str(ann_file)!r}.')
        image_dir, list_file = root / 'images', root / 'images.txt'
        listed = _listed_names(list_file, column=1)
    else:
        image_dir, list_file, listed = root, None, None
        if ann_file is not None:
            list_file = root / ann_file
            if not list_file.is_file():
                raise FileNotFoundError(
                    f'Split file {str(list_file)!r} does not exist; check '
                    'ann_file in the config.')
            listed = _listed_names(list_file, column=0)

    class_dirs = sorted(p for p in image_dir.glob('*') if p.is_dir())
    problems = []
    empty = [p.name for p in class_dirs if not _has_image(p, extensions)]
    if empty:
        problems.append(
            _describe(
                len(empty), f'class folders in {str(image_dir)!r} hold no '
                f'image ({"/".join(extensions)})', empty))
    if listed is not None:
        missing = [n for n in listed if not (image_dir / n).is_file()]
        if missing:
            problems.append(
                _describe(
                    len(missing), f'images named in {str(list_file)!r} are '
                    f'missing below {str(image_dir)!r}', missing))
    elif not class_dirs:
        problems.append(f'{str(image_dir)!r} has no class folders and no '
                        'split file was given')
    if problems:
        raise ValueError('Dataset check failed:\n  ' + '\n  '.join(problems) +
                         '\nRemove or fill the empty class folders and fix '
                         'the split file or the missing files.')
    if listed is not None:
        return len(listed)
    return sum(1 for d in class_dirs for _, _, names in os.walk(d)
               for name in names if _is_image(name, extensions))


#: Files and folders (ending in '/') that mmpretrain's dataset classes read,
#: relative to ``data_root``; ``{split}`` is the configured split.
OFFICIAL_LAYOUTS = {
    'CUB': ('images.txt', 'image_class_labels.txt', 'train_test_split.txt',
            'images/'),
    'FGVCAircraft': ('data/images_variant_{split}.txt', 'data/images/'),
    'StanfordCars-train': ('devkit/cars_train_annos.mat', 'cars_train/'),
    'StanfordCars-test': ('devkit/cars_test_annos_withlabels.mat',
                          'cars_test/'),
}
#: Dataset wrappers and the keys of the datasets they wrap.
WRAPPED_DATASETS = {
    'LabelledSplits': ('train', 'test'),
    'RepeatDataset': ('dataset', ),
    'ClassBalancedDataset': ('dataset', ),
    'KFoldDataset': ('dataset', ),
}


def _expected_files(dataset_type: str, split: str,
                    root: Path) -> Optional[Sequence[str]]:
    """The official layout of ``dataset_type``, or None if it has none."""
    if dataset_type == 'StanfordCars':
        if (root / 'cars_annos.mat').is_file():  # the all-in-one variant
            return ('cars_annos.mat', )
        return OFFICIAL_LAYOUTS['StanfordCars-' +
                                ('test' if split == 'test' else 'train')]
    layout = OFFICIAL_LAYOUTS.get(dataset_type)
    return None if layout is None else [p.format(split=split) for p in layout]


def check_dataset_config(cfg: dict, key: str) -> None:
    """Check that a dataset config points at data in the expected layout.

    Covers mmpretrain's ``CUB``, ``StanfordCars``, ``FGVCAircraft`` (their
    official layouts) and ``CustomDataset`` (a folder with images), and the
    datasets inside :data:`WRAPPED_DATASETS`; other types are not checked.
    Run before building the runner, so that a wrong path fails at once with
    the path, the config key and the missing files named.

    Args:
        cfg (dict): A dataset config, e.g. ``cfg.train_dataloader.dataset``.
        key (str): Its key path, for the messages.

    Raises:
        FileNotFoundError: ``data_root`` is missing or lacks files of the
            layout; the message names them.
        ValueError: See :func:`check_dataset_folder` (CUB layout).
    """
    for sub_key, sub_cfg in _wrapped(cfg):
        check_dataset_config(sub_cfg, f'{key}.{sub_key}')
    _check_one_dataset(cfg, key)


def dataset_problems(cfg: dict, key: str) -> List[str]:
    """Every problem :func:`check_dataset_config` finds, not just the first.

    A wrapper's datasets (e.g. the train and test splits of
    ``LabelledSplits``) are checked each, so that one message can list all
    the missing data roots of a config.

    Args:
        cfg (dict): A dataset config, e.g. ``cfg.test_dataloader.dataset``.
        key (str): Its key path, for the messages.

    Returns:
        list[str]: One message per dataset with a problem; empty if none.
    """
    problems = []
    for sub_key, sub_cfg in _wrapped(cfg):
        problems += dataset_problems(sub_cfg, f'{key}.{sub_key}')
    try:
        _check_one_dataset(cfg, key)
    except (FileNotFoundError, ValueError) as error:
        problems.append(str(error))
    return problems


def _wrapped(cfg: dict) -> List[Tuple[str, dict]]:
    """``(key, config)`` of the datasets a wrapper dataset config holds."""
    return [(sub_key, cfg[sub_key])
            for sub_key in WRAPPED_DATASETS.get(cfg.get('type'), ())
            if isinstance(cfg.get(sub_key), dict)]


def _check_one_dataset(cfg: dict, key: str) -> None:
    """:func:`check_dataset_config` without the wrapped datasets."""
    dataset_type = cfg.get('type')
    if dataset_type not in ('CUB', 'StanfordCars', 'FGVCAircraft',
                            'CustomDataset'):
        return
    root = Path(cfg.get('data_root') or '')
    if not root.is_dir():
        raise FileNotFoundError(
            f'{key}.data_root={str(root)!r}: no such folder. Point it at the '
            f'{dataset_type} data (see the README, section Datasets, for the '
            'layout), e.g. '
            f'--cfg-options {key}.data_root=/path/to/data')
    if dataset_type == 'CustomDataset':
        if not _has_image(root, IMG_EXTENSIONS):
            raise FileNotFoundError(
                f'{key}.data_root={str(root)!r} holds no image '
                f'({"/".join(IMG_EXTENSIONS)}) at any depth.')
        return
    expected = _expected_files(dataset_type, cfg.get('split', 'train'),
                               root)
    missing = [
        p for p in expected
        if not ((root / p).is_dir() if p.endswith('/') else
                (root / p).is_file())
    ]
    if missing:
        raise FileNotFoundError(
            f'{key}.data_root={str(root)!r} is not in the official '
            f'{dataset_type} layout: missing {", ".join(missing)}. Expected '
            f'below it: {", ".join(expected)}.')
    if dataset_type == 'CUB':
        check_dataset_folder(root)
