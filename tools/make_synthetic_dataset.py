"""Write the SyntheticFineGrained splits to disk as an ImageNet-style folder.

Layout::

    OUT/train/part_00/00000.png, OUT/train/part_00/00001.png, ...
    OUT/test/part_00/00000.png, ...

which mmpretrain's ``CustomDataset`` reads with ``data_root=OUT`` and
``data_prefix='train'`` (or ``'test'``) and ``LoadImageFromFile`` first in the
pipeline. The pixels are exactly those ``SyntheticFineGrained`` generates in
memory with the same arguments (PNG is lossless).

Example::

    python tools/make_synthetic_dataset.py --out data/synthetic_fg \\
        --num-classes 10 --num-per-class 100 --image-size 64 --seed 0
"""
import argparse
from pathlib import Path
from typing import Optional, Sequence

import mmcv

from cmd_plugin.datasets import SyntheticFineGrained
from cmd_plugin.datasets.synthetic_fine_grained import SPLITS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments without the program name;
            None reads ``sys.argv``. Defaults to None.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Write the synthetic fine-grained dataset as '
        'OUT/{train,test}/<class>/*.png.')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-classes', type=int, default=10)
    parser.add_argument(
        '--num-per-class', type=int, default=100, help='images per split')
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--num-parts', type=int, default=2)
    parser.add_argument('--num-distractors', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Generate both splits and write one PNG per image.

    Args:
        argv (Sequence[str], optional): Arguments without the program name;
            None reads ``sys.argv``. Defaults to None.
    """
    args = parse_args(argv)
    out = Path(args.out)
    for split in SPLITS:
        dataset = SyntheticFineGrained(
            split=split,
            num_classes=args.num_classes,
            num_per_class=args.num_per_class,
            image_size=args.image_size,
            num_parts=args.num_parts,
            num_distractors=args.num_distractors,
            seed=args.seed)
        classes = dataset.metainfo['classes']
        for idx in range(len(dataset)):
            info = dataset.get_data_info(idx)
            img, _ = dataset.render(idx)
            path = (out / split / classes[info['gt_label']] /
                    f'{info["instance"]:05d}.png')
            mmcv.imwrite(img, str(path))  # BGR, creates the folders
        print(f'{split}: {len(dataset)} images in {out / split}')
    for name, parts in zip(classes, dataset.class_parts):
        print(f'{name}: ' + ' + '.join(f'{p.colour} {p.shape}'
                                       for p in parts))


if __name__ == '__main__':
    main()
