"""A local file backend for mmengine that writes files atomically."""
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from ...utils.atomic_files import (write_bytes_atomically,
                                   write_text_atomically)

#: The name :data:`ATOMIC_BACKEND_ARGS` selects.
ATOMIC_BACKEND = 'cmd_atomic_local'
#: ``backend_args`` that make mmengine's ``save_checkpoint`` write through
#: :class:`AtomicLocalBackend`.
ATOMIC_BACKEND_ARGS = {'backend': ATOMIC_BACKEND}


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put`` / ``put_text`` are atomic.

    mmengine's ``save_checkpoint`` serialises a checkpoint into memory and
    hands the bytes to the backend's ``put``; the local backend writes them
    in place (``open(path, 'wb')``), so a kill mid-write leaves a truncated
    file under the checkpoint's name. This one writes through
    :func:`~cmd_plugin.utils.atomic_files.write_bytes_atomically`
    (temporary file in the same folder, fsync, rename, fsync of the folder),
    and a full disk raises
    :class:`~cmd_plugin.utils.atomic_files.StorageFullError`.
    """

    def put(self, obj: bytes, filepath) -> None:
        """Write ``obj`` to ``filepath`` atomically."""
        write_bytes_atomically(filepath, obj, what='checkpoint')

    def put_text(self, obj: str, filepath,
                 encoding: Union[str, None] = 'utf-8') -> None:
        """Write the text ``obj`` to ``filepath`` atomically."""
        write_text_atomically(filepath, obj, encoding or 'utf-8')


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
