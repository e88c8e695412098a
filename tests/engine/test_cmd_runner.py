"""CMDRunner: found where mmpretrain's tools look; its quiet log filter."""
import logging

import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS

from cmd_plugin.engine.runner import CMDRunner, QuietLogFilter
from tiny_configs import CONFIGS


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord('mmengine', logging.INFO, __file__, 1, message,
                             None, None)


def test_base_runtime_selects_it_for_mmpretrain_tools():
    # mmpretrain's tools/train.py (mim train) builds runner_type from
    # mmengine's root registry
    runtime = Config.fromfile(CONFIGS / '_base_' / 'default_runtime.py')
    assert MMENGINE_RUNNERS.get(runtime.runner_type) is CMDRunner


def test_quiet_log_filter():
    quiet = QuietLogFilter()
    assert not quiet.filter(record(
        'teacher.backbone.cls_token is skipped since its '
        'requires_grad=False'))
    assert not quiet.filter(record(
        'paramwise_options -- backbone.ln1.bias:weight_decay=0.0'))
    env = record('\nRuntime environment:\n    GPU number: 2\n')
    assert quiet.filter(env)
    assert env.msg == ('\nRuntime environment:\n    GPU number: 2\n'
                       if torch.cuda.is_available() else
                       '\nRuntime environment:\n    Processes: 2 (no GPU)\n')
    assert quiet.filter(record('Epoch(train) [1][1/3] loss: 1.0'))
