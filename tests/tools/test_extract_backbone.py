"""tools/extract_backbone.py: a backbone-only checkpoint out of a CMD one."""
import runpy
from pathlib import Path

import pytest
import torch

from cmd_checkpoints import TINY_VIT, save_cmd_checkpoint
from mmpretrain.registry import MODELS

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'extract_backbone.py'
main = runpy.run_path(str(TOOL))['main']


@pytest.fixture(scope='module')
def cmd_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_3.pth'
    return path, save_cmd_checkpoint(path)


@pytest.mark.parametrize('network', ['teacher', 'student'])
def test_extracts_the_chosen_backbone(cmd_ckpt, tmp_path, network):
    path, cmd = cmd_ckpt
    out = tmp_path / 'out' / 'backbone.pth'
    main([str(path), str(out), '--network', network])

    saved = torch.load(out, weights_only=True)
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


def test_default_network_is_the_teacher(cmd_ckpt, tmp_path):
    path, cmd = cmd_ckpt
    main([str(path), str(tmp_path / 'b.pth')])
    saved = torch.load(tmp_path / 'b.pth', weights_only=True)
    torch.testing.assert_close(saved['state_dict']['cls_token'],
                               cmd.teacher.backbone.cls_token)


def test_checkpoint_without_backbone(cmd_ckpt, tmp_path):
    _, cmd = cmd_ckpt
    heads = tmp_path / 'heads.pth'
    torch.save({'state_dict': {k: v for k, v in cmd.state_dict().items()
                               if k.startswith('head.')}}, heads)
    with pytest.raises(SystemExit, match=r"no backbone.*\['head'\]"):
        main([str(heads), str(tmp_path / 'b.pth')])
    assert not (tmp_path / 'b.pth').exists()


def test_teacher_of_a_single_network_checkpoint(cmd_ckpt, tmp_path):
    _, cmd = cmd_ckpt
    student = tmp_path / 'student.pth'
    torch.save({'state_dict': {k: v for k, v in cmd.state_dict().items()
                               if not k.startswith('teacher.')}}, student)
    with pytest.raises(SystemExit, match="Set --network='student'"):
        main([str(student), str(tmp_path / 'b.pth')])
