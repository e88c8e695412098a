"""Two CPU processes with batch b train like one process with batch 2b."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist
from mmengine.config import Config

from cmd_plugin.engine.runner import setup_cpu_distributed
from conftest import write_cub_layout
from single_thread import one_thread  # noqa: F401  (a fixture)
from test_train import logged_losses
from tool_scripts import TOOLS
from tiny_configs import write_tiny_config

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason='needs torch.distributed with the gloo backend')

BATCH_PER_PROCESS = 2
EPOCHS = 2
ITERS = 3 * EPOCHS
TERMS = ('loss', 'loss_img', 'loss_reg', 'loss_inter')

# Crops of the whole (square) image, no flip, no photometric change: the
# views are the same on every rank however its generators are seeded.
# Unshuffled DefaultSampler: rank r takes samples r, r + 2, ..., so
# iteration i of the two ranks together holds samples 4i .. 4i + 3, the
# batch of one process with batch 4, in another order (the losses are
# means over the batch, so the order does not matter). The log shows each
# iteration's values (window 1), averaged over the processes by CMD.
# Epoch 1 with frozen prototypes, epoch 2 with trainable ones, under the
# runtime's DDP without unused-parameter search.
DETERMINISTIC = """
train_dataloader['sampler'] = dict(type='DefaultSampler', shuffle=False)
train_dataloader['dataset']['pipeline'] = [
    dict(type='LoadImageRobust', on_bad_image='skip'),
    dict(type='CMDMultiCrop', global_size=32, global_scale=(1.0, 1.0),
         num_local=2, local_size=16, local_scale=(1.0, 1.0), flip_prob=0.0,
         global_pipelines=[[], []], local_pipeline=[]),
    dict(type='PackInputs',
         meta_keys=['img_path', 'crop_boxes', 'crop_flips']),
]
custom_hooks = [
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07,
         warmup_epochs=1),
    dict(type='TeacherMomentumHook', start=0.9, end=1.0),
    dict(type='FreezePrototypesHook', epochs=1),
]
default_hooks['checkpoint'] = None
log_processor = dict(window_size=1)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def per_iteration(work_dir: Path) -> list:
    records = [r for r in logged_losses(work_dir) if 'loss' in r]
    assert [r['iter'] for r in records] == list(range(1, ITERS + 1))
    return [{term: r[term] for term in TERMS} for r in records]


@needs_gloo
def test_two_processes_match_one_with_double_batch(tmp_path, one_thread):
    # 3 classes x 4 training images = 2 processes x batch 2 x 3 iterations
    data = write_cub_layout(tmp_path / 'data', num_classes=3, per_class=8)
    config = write_tiny_config(tmp_path / 'dist.py', 'vit', data,
                               max_epochs=EPOCHS, extra=DETERMINISTIC)
    assert Config.fromfile(config).model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', find_unused_parameters=False)

    # both arms on CPUs, also on a machine with a GPU (one GPU cannot hold
    # two processes, and GPU arithmetic would differ from the CPU's)
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               OMP_NUM_THREADS='1', PYTHONPATH=str(TOOLS.parent),
               CUDA_VISIBLE_DEVICES='')
    one = tmp_path / 'one_process'
    result = subprocess.run(
        [sys.executable, str(TOOLS / 'train.py'), str(config), '--work-dir',
         str(one), '--cfg-options',
         f'train_dataloader.batch_size={2 * BATCH_PER_PROCESS}'],
        cwd=TOOLS.parent, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    two = tmp_path / 'two_processes'
    result = subprocess.run(
        ['bash', str(TOOLS / 'dist_train.sh'), str(config), '2',
         '--work-dir', str(two), '--cfg-options',
         f'train_dataloader.batch_size={BATCH_PER_PROCESS}'],
        cwd=TOOLS.parent, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = next(two.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    # CMDRunner counts processes, not GPUs, on a machine without CUDA
    assert 'Processes: 2 (no GPU)' in log

    expected, actual = per_iteration(one), per_iteration(two)
    for it, (a, e) in enumerate(zip(actual, expected), start=1):
        assert a == pytest.approx(e, rel=1e-5, abs=1e-4), f'iteration {it}'


@pytest.mark.parametrize('options, message', [
    (dict(launcher='slurm'), 'needs --launcher pytorch'),
    (dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl'))),
     'env_cfg.dist_cfg.backend=gloo'),
])
def test_cpu_launch_errors_say_what_to_set(options, message):
    with pytest.raises(ValueError, match=message):
        setup_cpu_distributed(Config(options))
