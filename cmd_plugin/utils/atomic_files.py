"""Write files so that a crash never leaves a partial one under its name.

A file is written to a temporary file in the same folder (a hidden name,
``.<name>.<pid>-<token>.tmp``), flushed and fsynced, then renamed over the
final name with :func:`os.replace` (atomic on POSIX file systems: a reader
sees the old file or the new one, never a mix), and the folder is fsynced so
that the rename survives a power loss. A process killed mid-write (``kill
-9``, the OOM killer, a node failure) leaves at most the temporary file,
which nothing reads as a checkpoint and :func:`remove_stale_temporaries`
deletes later. A write that fails (e.g. the disk is full) removes its
temporary file and leaves the old file untouched; a full disk raises
:class:`StorageFullError`, which names the folder, the space needed and the
space free.
"""
import errno
import os
import os.path as osp
import re
import shutil
import uuid
from typing import List, Optional, Union

from .user_errors import UserError

#: ``errno`` values that mean "the file system has no room for this file":
#: no space left, disk quota exceeded, file too large (a file-size limit such
#: as ``ulimit -f``).
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

#: Size of the pieces :func:`write_bytes_atomically` writes at a time.
CHUNK_SIZE = 16 * 1024 * 1024

_TEMPORARY = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$')

PathLike = Union[str, os.PathLike]


def format_size(size: Optional[float]) -> str:
    """``1536`` -> ``'1.5 KiB'``; None -> ``'unknown'``."""
    if size is None:
        return 'unknown'
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if size < 1024 or unit == 'TiB':
            return (f'{int(size)} bytes' if unit == 'bytes' else
                    f'{size:.1f} {unit}')
        size /= 1024
    raise AssertionError('unreachable')


def free_space(folder: PathLike) -> Optional[int]:
    """Bytes free for this user in ``folder``'s file system, or None."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


class StorageFullError(UserError):
    """A file could not be written: its file system has no room for it.

    The old file of that name, if any, is untouched and no partial file is
    left behind. A user error (the tools print its message and exit with
    status 2): space has to be freed, or the work dir moved.

    Args:
        path (str): The file that could not be written.
        needed (int, optional): Its size in bytes.
        free (int, optional): Bytes free in its file system after the
            failed write was cleaned up.
        reason (str): What the operating system said, e.g. ``'No space left
            on device'``.
        previous (str, optional): The last complete checkpoint, named in the
            message as intact.
        what (str): What the file is, for the message. Defaults to
            ``'file'``.
    """

    def __init__(self, path: str, needed: Optional[int],
                 free: Optional[int], reason: str,
                 previous: Optional[str] = None,
                 what: str = 'file') -> None:
        self.path, self.needed, self.free = path, needed, free
        self.reason, self.previous, self.what = reason, previous, what
        super().__init__(str(self))

    def __str__(self) -> str:
        folder = osp.dirname(osp.abspath(self.path))
        if self.previous:
            intact = (f'the previous checkpoint {self.previous} is intact '
                      '(nothing was overwritten and no partial file is '
                      'left).')
        else:
            intact = ('nothing was overwritten and no partial file is '
                      'left.')
        return (f'Could not save the {self.what} {osp.basename(self.path)} '
                f'in the work dir {folder}: {self.reason}. It needs '
                f'{format_size(self.needed)}; {format_size(self.free)} '
                f'free there. {intact[0].upper()}{intact[1:]} Free some '
                'space (or point --work-dir at a disk with room, copying '
                'the work dir) and continue with --resume.')

    def with_previous(self, previous: Optional[str],
                      what: Optional[str] = None) -> 'StorageFullError':
        """The same error, naming ``previous`` as the intact checkpoint."""
        return StorageFullError(self.path, self.needed, self.free,
                                self.reason, previous, what or self.what)


def temporary_path(path: PathLike) -> str:
    """A fresh temporary name next to ``path`` (hidden, pid and token)."""
    folder, name = osp.split(os.fspath(path))
    token = uuid.uuid4().hex[:8]
    return osp.join(folder, f'.{name}.{os.getpid()}-{token}.tmp')


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`temporary_path`'s."""
    return _TEMPORARY.match(osp.basename(name)) is not None


def _write_all(file, data: memoryview) -> None:
    """Write ``data`` to ``file`` in pieces of :data:`CHUNK_SIZE`."""
    for start in range(0, len(data), CHUNK_SIZE):
        file.write(data[start:start + CHUNK_SIZE])


def fsync_folder(folder: PathLike) -> None:
    """Make the entries of ``folder`` (a rename) durable, where possible."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. a file system that cannot fsync folders
        pass
    finally:
        os.close(fd)


def write_bytes_atomically(path: PathLike, data: Union[bytes, bytearray,
                                                       memoryview],
                           what: str = 'file') -> None:
    """Write ``data`` to ``path``: the whole file or, on failure, no change.

    Args:
        path (str | os.PathLike): The file; its folder is created if needed.
        data (bytes | bytearray | memoryview): The content.
        what (str): What the file is, for a :class:`StorageFullError`
            message. Defaults to ``'file'``.

    Raises:
        StorageFullError: The file system has no room for it (``ENOSPC``,
            ``EDQUOT``, ``EFBIG``); the temporary file is removed and the old
            file, if any, is untouched.
        OSError: Any other write error, after the same clean-up.
    """
    path = os.fspath(path)
    folder = osp.dirname(path) or '.'
    os.makedirs(folder, exist_ok=True)
    temporary = temporary_path(path)
    view = memoryview(data).cast('B')
    try:
        with open(temporary, 'wb') as file:
            _write_all(file, view)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.remove(temporary)
        except OSError:
            pass
        if isinstance(error, OSError) and error.errno in SPACE_ERRNOS:
            raise StorageFullError(path, len(view), free_space(folder),
                                   os.strerror(error.errno),
                                   what=what) from error
        raise
    fsync_folder(folder)


def write_text_atomically(path: PathLike, text: str,
                          encoding: str = 'utf-8',
                          what: str = 'file') -> None:
    """:func:`write_bytes_atomically` for text."""
    write_bytes_atomically(path, text.encode(encoding), what=what)


def remove_stale_temporaries(folder: PathLike) -> List[str]:
    """Delete the temporary files that dead writers left in ``folder``.

    A temporary file whose writer (the pid in its name) is still alive on
    this machine is kept; so is everything that is not a temporary file of
    :func:`temporary_path`.

    Args:
        folder (str | os.PathLike): The folder, e.g. a work dir.

    Returns:
        list[str]: The paths deleted.
    """
    folder = os.fspath(folder)
    if not osp.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        match = _TEMPORARY.match(name)
        if match is None:
            continue
        pid = int(match.group('pid'))
        if pid != os.getpid() and _alive(pid):
            continue
        path = osp.join(folder, name)
        try:
            os.remove(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
