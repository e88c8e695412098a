"""Resume from the newest complete checkpoint; damaged ones are skipped,
unsafe ones refused."""
import logging
import zipfile
from pathlib import Path

import pytest
import torch

from cmd_plugin.apis.preflight import checkpoint_problem, latest_checkpoint
from cmd_plugin.utils.checkpoint_files import (checkpoint_damage,
                                               find_resumable_checkpoint)
from cmd_plugin.utils.checkpoint_safety import UnsafeCheckpointError
from cmd_plugin.utils.user_errors import UserError
from malicious_pickle import RunsShellOnUnpickle


def save(path: Path, iteration: int, epoch: int = 0, **extra) -> Path:
    torch.save(
        dict(meta=dict(epoch=epoch, iter=iteration),
             state_dict={'w': torch.full((256, ), float(iteration))},
             **extra), path)
    return path


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def corrupt_tensor_bytes(path: Path) -> Path:
    """Flip bytes inside a tensor's record; the archive stays whole."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist()
                    if i.filename.endswith('data/0'))
    data = bytearray(path.read_bytes())
    data[info.header_offset + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def work_dir(tmp_path) -> Path:
    """epoch_1 (iteration 4) and epoch_2 (iteration 8), last_checkpoint."""
    work = tmp_path / 'work'
    work.mkdir()
    save(work / 'epoch_1.pth', 4, 1)
    save(work / 'epoch_2.pth', 8, 2)
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    return work


def test_damage_kinds(work_dir):
    good = work_dir / 'epoch_2.pth'
    assert checkpoint_damage(str(good)) is None
    empty = work_dir / 'empty.pth'
    empty.write_bytes(b'')
    assert checkpoint_damage(str(empty)) == 'empty (0 bytes)'
    cut = truncate(save(work_dir / 'cut.pth', 1))
    assert checkpoint_damage(str(cut)).startswith(
        f'truncated: {cut.stat().st_size} bytes')
    flipped = corrupt_tensor_bytes(save(work_dir / 'flip.pth', 1))
    assert checkpoint_damage(str(flipped), deep=False) is None
    assert checkpoint_damage(str(flipped)) == \
        'corrupt: flip/data/0 fails its CRC check'
    assert checkpoint_problem(str(cut), '--resume').startswith(
        f"--resume: checkpoint file '{cut}' is truncated: ")


def test_newest_complete_checkpoint(work_dir):
    search = find_resumable_checkpoint(str(work_dir))
    assert (search.path, search.iteration, search.skipped) == (
        str(work_dir / 'epoch_2.pth'), 8, [])


@pytest.mark.parametrize('damage', [truncate, corrupt_tensor_bytes])
def test_damaged_newest_is_skipped_with_a_warning(work_dir, damage,
                                                  monkeypatch):
    newest = damage(work_dir / 'epoch_2.pth')
    search = find_resumable_checkpoint(str(work_dir))
    assert search.path == str(work_dir / 'epoch_1.pth')
    assert [path for path, _ in search.skipped] == [str(newest)]
    logged = []
    monkeypatch.setattr(
        'cmd_plugin.apis.preflight.print_log',
        lambda message, logger, level: logged.append((level, message)))
    assert latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_1.pth')
    (level, skipped), (_, resuming) = logged
    assert level == logging.WARNING
    assert skipped.startswith(f'--resume: skipped the checkpoint {newest}: '
                              + ('truncated' if damage is truncate else
                                 'corrupt: epoch_2/data/0 fails its CRC'))
    assert resuming == (f'--resume: resuming from {work_dir / "epoch_1.pth"}'
                        ' (iteration 4), the newest complete checkpoint.')


def test_progress_not_names_nor_the_record_decides(work_dir):
    """iter_10.pth (an iteration checkpoint inside epoch 3) is newer than
    epoch_2.pth; last_checkpoint naming an older or a missing file, and
    temporary files of an unfinished write, do not matter."""
    save(work_dir / 'iter_10.pth', 10, 2)
    (work_dir / '.iter_12.pth.999999-0123abcd.tmp').write_bytes(b'PK\x03\x04')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'gone.pth'))
    assert find_resumable_checkpoint(str(work_dir)).path == str(
        work_dir / 'iter_10.pth')
    (work_dir / 'last_checkpoint').write_text('')  # cut off mid-write
    assert latest_checkpoint(str(work_dir)) == str(work_dir / 'iter_10.pth')


def test_every_checkpoint_damaged(work_dir):
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        truncate(work_dir / name)
    with pytest.raises(UserError) as error:
        latest_checkpoint(str(work_dir))
    message = str(error.value)
    assert message.startswith(
        f"--resume: no complete checkpoint in the work dir '{work_dir}': "
        f"{work_dir / 'epoch_2.pth'} is truncated: ")
    assert f"; {work_dir / 'epoch_1.pth'} is truncated: " in message
    assert message.endswith('Pass an intact checkpoint with --resume PATH.')


def test_malicious_newest_is_refused_not_skipped(work_dir, tmp_path):
    marker = tmp_path / 'payload_ran'
    save(work_dir / 'iter_12.pth', 12, 3,
         message_hub=dict(note=RunsShellOnUnpickle(marker)))
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        find_resumable_checkpoint(str(work_dir))
    with pytest.raises(UnsafeCheckpointError):
        latest_checkpoint(str(work_dir), if_any=True)
    assert not marker.exists()
