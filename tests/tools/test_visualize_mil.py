"""tools/visualize_mil.py and the figures it writes
(``cmd_plugin.visualization.visualize``) on tiny CMD checkpoints (ViT,
Swin, ResNet)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmpretrain.registry import MODELS
from cmd_plugin.apis import visualize
from cmd_plugin.models.utils.cmd_checkpoint import CheckpointMismatchError
from tiny_configs import tiny_cmd_checkpoint, write_tiny_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    paths = []
    for name, shape in (('wide', (40, 70, 3)), ('square', (32, 32, 3))):
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f'{name}.jpg')
        paths.append(str(folder / f'{name}.jpg'))
    return paths


@pytest.mark.parametrize('arch, panels', [('vit', 3), ('swin', 2),
                                          ('resnet', 2)])
def test_one_figure_per_image(arch, panels, images, tmp_path):
    config, checkpoint, _ = tiny_cmd_checkpoint(tmp_path, arch)
    written = visualize(str(config), str(checkpoint), images,
                        str(tmp_path / 'out'))
    assert [p.name for p in written] == ['wide.png', 'square.png']
    for path in written:
        with Image.open(path) as figure:
            assert figure.format == 'PNG'
            # image + MIL weights (+ cls attention for the ViT), 2.2 in
            # each, and the colorbar
            assert figure.width == pytest.approx(220 * panels + 110, abs=2)


def test_a_uniform_mil_neck_gets_no_mil_panel(images, tmp_path):
    """The DINO baseline (attention='none'): its MIL weights are uniform by
    construction, so only what it has is drawn (the ViT's cls attention)
    and the title says why."""
    config = write_tiny_config(
        tmp_path / 'tiny_dino.py', 'vit', tmp_path / 'no_data',
        extra="model = dict(neck=dict(attention='none'), head=dict("
        'reg_weight=0.0, inter_weight=0.0))')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    checkpoint = tmp_path / 'dino.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    written = visualize(str(config), str(checkpoint), images[:1],
                        str(tmp_path / 'out'))
    with Image.open(written[0]) as figure:
        assert figure.width == pytest.approx(220 * 2 + 110, abs=2)


def test_the_command_line(tiny_vit, images, tmp_path):
    """A figure per image; a missing image is a user error (exit status 2,
    one message naming the argument, no traceback)."""
    config, checkpoint, _ = tiny_vit
    command = [sys.executable, str(ROOT / 'tools' / 'visualize_mil.py'),
               str(config), str(checkpoint), '--out', str(tmp_path / 'out'),
               '--images']
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(command + images, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert 'Wrote 2 figures' in done.stdout
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'square.png', 'wide.png']
    done = subprocess.run(command + [str(tmp_path / 'missing.png')], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert '--images: ' in done.stderr and 'missing.png' in done.stderr
    assert 'Traceback' not in done.stderr


def test_bad_inputs_name_the_problem(tiny_vit, images, tmp_path):
    config, checkpoint, _ = tiny_vit
    with pytest.raises(ValueError, match='distinct names'):
        visualize(str(config), str(checkpoint), [images[0], images[0]],
                  str(tmp_path))
    eval_config = ROOT / 'configs' / 'demo' / \
        'eval_resnet-mini_synthetic.py'
    with pytest.raises(TypeError, match='not CMD: pass a CMD pre-training config'):
        visualize(str(eval_config), str(checkpoint), images[:1],
                  str(tmp_path))
    resnet_config = write_tiny_config(tmp_path / 'tiny_resnet.py', 'resnet',
                                      tmp_path)
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        visualize(str(resnet_config), str(checkpoint), images[:1],
                  str(tmp_path))
