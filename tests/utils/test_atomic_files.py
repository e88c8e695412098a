"""Atomic writes: a crash mid-write never leaves a partial file by name."""
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cmd_plugin.utils import atomic_files
from cmd_plugin.utils.atomic_files import (StorageFullError, is_temporary,
                                           remove_stale_temporaries,
                                           temporary_path,
                                           write_bytes_atomically,
                                           write_text_atomically)

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = b'old checkpoint ' * 1000, b'new checkpoint ' * 4000


def leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if is_temporary(p.name))


def test_writes_the_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / 'sub' / 'epoch_1.pth'
    write_bytes_atomically(target, NEW)
    assert target.read_bytes() == NEW
    write_text_atomically(tmp_path / 'last_checkpoint', str(target))
    assert (tmp_path / 'last_checkpoint').read_text() == str(target)
    assert leftovers(tmp_path) == leftovers(target.parent) == []


def test_temporary_names():
    path = temporary_path('/w/epoch_3.pth')
    assert Path(path).parent == Path('/w')
    assert is_temporary(path) and Path(path).name.startswith('.epoch_3.pth.')
    assert not is_temporary('epoch_3.pth')
    assert not is_temporary('.epoch_3.pth.tmp')  # no pid / token


@pytest.mark.parametrize('existing', [False, True])
def test_process_killed_mid_write(tmp_path, existing):
    """``os._exit`` halfway through the write: like kill -9, no clean-up
    runs. Under the final name there is the old file or nothing, never half
    of the new one; the temporary file is what is left, and it is removed
    as stale once its writer is gone."""
    target = tmp_path / 'iter_4.pth'
    if existing:
        target.write_bytes(OLD)
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from cmd_plugin.utils import atomic_files

        def half_then_die(file, data):
            file.write(data[:len(data) // 2])
            file.flush()
            os._exit(9)

        atomic_files._write_all = half_then_die
        atomic_files.write_bytes_atomically({str(target)!r}, {NEW!r})
    """)
    run = subprocess.run([sys.executable, '-c', script], timeout=300)
    assert run.returncode == 9
    if existing:
        assert target.read_bytes() == OLD
    else:
        assert not target.exists()
    stale = leftovers(tmp_path)
    assert len(stale) == 1
    assert (tmp_path / stale[0]).stat().st_size == len(NEW) // 2
    assert remove_stale_temporaries(tmp_path) == [str(tmp_path / stale[0])]
    assert leftovers(tmp_path) == []


def test_a_live_writers_temporary_is_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, '-c',
                                'import time; time.sleep(60)'])
    try:
        live = tmp_path / f'.epoch_1.pth.{sleeper.pid}-0123abcd.tmp'
        live.write_bytes(b'partial')
        assert remove_stale_temporaries(tmp_path) == []
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temporaries(tmp_path) == [str(live)]


def test_an_error_mid_write_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_2.pth'
    target.write_bytes(OLD)

    def half_then_fail(file, data):
        file.write(data[:len(data) // 2])
        raise KeyboardInterrupt  # e.g. a second Ctrl-C

    monkeypatch.setattr(atomic_files, '_write_all', half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_bytes_atomically(target, NEW)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_disk_full_names_the_folder_and_the_space(tmp_path, monkeypatch):
    target = tmp_path / 'iter_6.pth'
    target.write_bytes(OLD)

    def no_space(file, data):
        file.write(data[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_files, '_write_all', no_space)
    with pytest.raises(StorageFullError) as error:
        write_bytes_atomically(target, NEW, what='checkpoint')
    message = str(error.value)
    assert message.startswith(
        f'Could not save the checkpoint iter_6.pth in the work dir '
        f'{tmp_path}: No space left on device. It needs 58.6 KiB; ')
    assert 'free there. Nothing was overwritten' in message
    assert message.endswith('continue with --resume.')
    assert error.value.needed == len(NEW)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []
    named = error.value.with_previous(str(tmp_path / 'iter_3.pth'))
    assert f'The previous checkpoint {tmp_path / "iter_3.pth"} is intact' in \
        str(named)


def test_file_size_limit_is_a_storage_error(tmp_path):
    """A real ``EFBIG`` from ``RLIMIT_FSIZE`` (Python ignores SIGXFSZ)."""
    target = tmp_path / 'epoch_1.pth'
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from cmd_plugin.utils.atomic_files import (StorageFullError,
                                                   write_bytes_atomically)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_bytes_atomically({str(target)!r}, b'x' * 100000)
        except StorageFullError as error:
            print(error)
    """)
    run = subprocess.run([sys.executable, '-c', script], timeout=300,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert 'File too large. It needs 97.7 KiB' in run.stdout
    assert not target.exists() and leftovers(tmp_path) == []
