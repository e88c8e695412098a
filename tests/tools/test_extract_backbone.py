"""A backbone-only checkpoint out of a CMD one: ``backbone_checkpoint`` and
tools/extract_backbone.py (run as a process)."""
import subprocess
import sys

import pytest
import torch

from cmd_checkpoints import TINY_VIT, save_cmd_checkpoint
from cmd_plugin.models.utils.cmd_checkpoint import (CheckpointMismatchError,
                                                    backbone_checkpoint)
from cmd_plugin.utils.checkpoint_safety import load_checkpoint_safely
from mmpretrain.registry import MODELS
from tool_scripts import TOOLS


@pytest.fixture(scope='module')
def cmd_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_3.pth'
    return path, save_cmd_checkpoint(path)


@pytest.mark.parametrize('network', ['teacher', 'student'])
def test_extracts_the_chosen_backbone(cmd_ckpt, tmp_path, network):
    path, cmd = cmd_ckpt
    saved = backbone_checkpoint(load_checkpoint_safely(path), network,
                                path.name)
    source = cmd.teacher.backbone if network == 'teacher' else cmd.backbone
    expected = source.state_dict()
    assert list(saved['state_dict']) == list(expected)
    for key, value in expected.items():
        torch.testing.assert_close(saved['state_dict'][key], value, msg=key)
    assert saved['meta'] == dict(
        source='epoch_3.pth',
        network=network,
        key_prefix='',
        converter='tools/extract_backbone.py',
        epoch=3,
        iter=30)
    # the keys are the backbone's own: a fresh one loads them strictly
    MODELS.build(TINY_VIT).load_state_dict(saved['state_dict'])


def test_the_tool_writes_the_teacher_by_default(cmd_ckpt, tmp_path):
    path, cmd = cmd_ckpt
    out = tmp_path / 'out' / 'b.pth'
    done = subprocess.run(
        [sys.executable, str(TOOLS / 'extract_backbone.py'), str(path),
         str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['network'] == 'teacher'
    torch.testing.assert_close(saved['state_dict']['cls_token'],
                               cmd.teacher.backbone.cls_token)


def test_checkpoint_without_backbone(cmd_ckpt, tmp_path):
    _, cmd = cmd_ckpt
    heads = tmp_path / 'heads.pth'
    torch.save({'state_dict': {k: v for k, v in cmd.state_dict().items()
                               if k.startswith('head.')}}, heads)
    with pytest.raises(ValueError, match=r"no backbone.*\['head'\]"):
        backbone_checkpoint(load_checkpoint_safely(heads), 'teacher',
                            heads.name)


def test_teacher_of_a_single_network_checkpoint(cmd_ckpt, tmp_path):
    _, cmd = cmd_ckpt
    student = tmp_path / 'student.pth'
    torch.save({'state_dict': {k: v for k, v in cmd.state_dict().items()
                               if not k.startswith('teacher.')}}, student)
    with pytest.raises(CheckpointMismatchError,
                       match="Set --network='student'"):
        backbone_checkpoint(load_checkpoint_safely(student), 'teacher',
                            student.name, '--network')
