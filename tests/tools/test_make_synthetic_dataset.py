"""Tests of tools/make_synthetic_dataset.py, run as a process."""
import subprocess
import sys

import numpy as np

from cmd_plugin.datasets import SyntheticFineGrained
from mmpretrain.datasets import CustomDataset
from tool_scripts import TOOLS


def test_writes_imagenet_layout_with_the_generated_pixels(tmp_path):
    subprocess.run([
        sys.executable, str(TOOLS / 'make_synthetic_dataset.py'), '--out',
        str(tmp_path), '--num-classes', '3', '--num-per-class', '2',
        '--image-size', '32', '--seed', '5'
    ], check=True, capture_output=True, timeout=300)
    for split in ('train', 'test'):
        files = sorted(p.relative_to(tmp_path / split).as_posix()
                       for p in (tmp_path / split).rglob('*.png'))
        assert files == [
            f'part_0{c}/0000{k}.png' for c in range(3) for k in range(2)
        ]
        generated = SyntheticFineGrained(
            split=split, num_classes=3, num_per_class=2, image_size=32,
            seed=5)
        on_disk = CustomDataset(
            data_root=str(tmp_path),
            data_prefix=split,
            pipeline=[dict(type='LoadImageFromFile')])
        assert on_disk.CLASSES == generated.CLASSES
        for idx in range(len(generated)):
            assert on_disk[idx]['gt_label'] == generated[idx]['gt_label']
            np.testing.assert_array_equal(on_disk[idx]['img'],
                                          generated[idx]['img'])
