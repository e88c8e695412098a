"""Load every checkpoint with ``torch.load(..., weights_only=True)``.

torch >= 2.6 unpickles checkpoints with a restricted unpickler that only
builds tensors, containers and an allow-list of globals. mmengine 0.10.7 was
written before that:

* its checkpoints pickle each ``HistoryBuffer`` of the message hub together
  with a dict of the class's statistics methods, which pickle as
  ``builtins.getattr(HistoryBuffer, 'mean')``: allow-listing ``getattr`` would
  let a file call any attribute of any allow-listed object;
* its URL loader calls ``torch.hub.load_state_dict_from_url``, whose
  ``weights_only`` defaults to ``False``; its file loaders call ``torch.load``
  without ``weights_only``, which an environment variable
  (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) can switch off.

:func:`install_checkpoint_safety` (``import cmd_plugin`` calls it, see
``cmd_plugin/__init__.py``) fixes both: a ``HistoryBuffer`` pickles as plain
lists and restores its statistics methods when unpickled, and every loader of
``mmengine.runner.checkpoint`` (used by ``load_from``, ``resume``,
``runner.load_checkpoint`` and ``init_cfg`` of type ``Pretrained``) goes
through :func:`load_checkpoint_safely`. A file that needs anything outside
:data:`SAFE_CHECKPOINT_GLOBALS` is refused before any of its code runs.
The module itself changes nothing in mmengine when it is imported.
"""
import os
import pickle
import types
import warnings
from typing import IO, Any, Callable, Union
from urllib.parse import urlparse

import mmengine.runner.checkpoint as mmengine_checkpoint
import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .user_errors import UserError

PathOrFile = Union[str, os.PathLike, IO[bytes]]
MapLocation = Union[str, torch.device, dict, Callable, None]

# Numeric dtype codes: bool, signed and unsigned integers, floats, complex.
_NUMERIC_DTYPE_CODES = '?bhilqBHILQefdgFDG'
# Where numpy 1 and numpy 2 pickle their array and scalar reconstructors.
_NUMPY_MULTIARRAY_PATHS = ('numpy.core.multiarray', 'numpy._core.multiarray')


def _numpy_safe_globals() -> list:
    """The globals numpy's own pickling uses for numeric arrays and scalars.

    The array and scalar reconstructors are taken from numpy's
    ``__reduce__`` and allowed under both module paths they are pickled
    with: ``numpy.core.multiarray`` (numpy 1) and ``numpy._core.multiarray``
    (numpy 2), so a checkpoint written with either loads with either. Each
    dtype instance is rebuilt from a string and needs its class allowed
    (``numpy.dtypes.Float64DType``, ...). Object arrays are not allowed.

    Returns:
        list: ``ndarray``, ``dtype``, ``(reconstructor, 'module.name')``
        pairs and the numeric dtype classes.
    """
    reconstructors = (np.zeros(0).__reduce__()[0],
                      np.float64(0).__reduce__()[0])
    dtype_classes = {type(np.dtype(code)) for code in _NUMERIC_DTYPE_CODES}
    return [
        np.ndarray, np.dtype, *[(function, f'{module}.{function.__name__}')
                                for function in reconstructors
                                for module in _NUMPY_MULTIARRAY_PATHS],
        *sorted(dtype_classes, key=lambda cls: cls.__name__)
    ]


#: Globals a checkpoint may use beyond torch's defaults: mmengine's
#: ``HistoryBuffer`` (pickled as plain lists, see below) and numeric numpy
#: arrays and scalars (the message hub stores e.g. ``eta`` as
#: ``numpy.float64``; hooks may put arrays into ``meta``).
SAFE_CHECKPOINT_GLOBALS: tuple = (HistoryBuffer, *_numpy_safe_globals())

_TRUST_HINT = ('If the file comes from a source you trust (e.g. an official '
               'release in an old format), convert it once on purpose with '
               '`python tools/convert_pretrained.py --trust-checkpoint ...` '
               'and load the converted file instead.')


class UnsafeCheckpointError(UserError, pickle.UnpicklingError):
    """A checkpoint needs more than the allow-list; nothing from it ran.

    A user error (the tools print its message and exit with status 2): the
    file, not the code, has to change.
    """


def _describe(source: PathOrFile) -> str:
    """Name a checkpoint source for messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, 'name', '<in-memory checkpoint>'))


def _refused_globals(source: PathOrFile) -> list:
    """List the globals of a zip checkpoint outside the allow-list.

    The pickle is disassembled, not executed. Must run with
    :data:`SAFE_CHECKPOINT_GLOBALS` allowed.

    Args:
        source (str | os.PathLike | IO[bytes]): The checkpoint.

    Returns:
        list[str]: Sorted ``module.name`` strings; empty when the file is not
        a zip checkpoint or the refusal was not about a global.
    """
    if hasattr(source, 'seek'):
        source.seek(0)
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(source)
    except ValueError:  # legacy (non-zip) format
        return []
    return sorted(names)


def _refusal_message(source: PathOrFile, error: Exception) -> str:
    """Build the error message for a refused checkpoint."""
    names = _refused_globals(source)
    if names:
        reason = f'its pickle needs {", ".join(names)}, outside the allow-list'
    else:  # torch names the first object it refused to build
        detail = str(error).split('WeightsUnpickler error:')[-1].strip()
        first_line = detail.partition('\n')[0]
        reason = f'the restricted unpickler refused it ({first_line})'
    return (f'Refused to load checkpoint {_describe(source)!r}: {reason} '
            "(torch's safe types plus cmd_plugin.utils.checkpoint_safety."
            'SAFE_CHECKPOINT_GLOBALS). Loading it could run arbitrary code; '
            f'nothing from it was executed. {_TRUST_HINT}')


def load_checkpoint_safely(path: PathOrFile,
                           map_location: MapLocation = 'cpu',
                           mmap: bool = False) -> Any:
    """Load a checkpoint with ``weights_only=True`` and the allow-list.

    Args:
        path (str | os.PathLike | IO[bytes]): A checkpoint file or an open
            binary file object.
        map_location (str | torch.device | dict | Callable | None): Where to
            put the tensors, as in :func:`torch.load`. Defaults to ``'cpu'``.
        mmap (bool): Map the tensors' bytes from the file instead of reading
            them (zip checkpoints only), as in :func:`torch.load`. Defaults
            to False.

    Returns:
        Any: The unpickled checkpoint, usually a dict.

    Raises:
        UnsafeCheckpointError: The file needs more than torch's safe types
            and :data:`SAFE_CHECKPOINT_GLOBALS`; the message names what.
    """
    with torch.serialization.safe_globals(list(SAFE_CHECKPOINT_GLOBALS)):
        try:
            return torch.load(
                path, map_location=map_location, weights_only=True,
                **({'mmap': True} if mmap else {}))
        except pickle.UnpicklingError as error:
            raise UnsafeCheckpointError(_refusal_message(path,
                                                         error)) from error


def load_trusted_checkpoint(path: PathOrFile,
                            map_location: MapLocation = 'cpu') -> Any:
    """Load a checkpoint with full pickle (``weights_only=False``).

    Only for converting a file you trust into a safe one on purpose
    (``tools/convert_pretrained.py --trust-checkpoint``): unpickling can run
    any code the file contains.

    Args:
        path (str | os.PathLike | IO[bytes]): The trusted checkpoint.
        map_location (str | torch.device | dict | Callable | None): As in
            :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        Any: The unpickled checkpoint.
    """
    warnings.warn(
        f'UNSAFE LOAD: loading {_describe(path)!r} with weights_only=False: '
        'unpickling it can run arbitrary code. Do this only for a file from '
        'a source you trust, and save the result as a safe checkpoint.',
        stacklevel=2)
    return torch.load(path, map_location=map_location, weights_only=False)


def _history_buffer_getstate(self: HistoryBuffer) -> dict:
    """Pickle a ``HistoryBuffer`` as lists, without statistics methods."""
    return dict(
        max_length=self.max_length,
        log_history=self._log_history.tolist(),
        log_dtype=self._log_history.dtype.str,
        count_history=self._count_history.tolist(),
        count_dtype=self._count_history.dtype.str)


def _history_buffer_setstate(self: HistoryBuffer, state: dict) -> None:
    """Rebuild a ``HistoryBuffer`` and register its statistics methods.

    Also accepts the state plain mmengine pickles (``_log_history`` arrays
    and a ``statistics_methods`` dict), which only
    :func:`load_trusted_checkpoint` can read.
    """
    self._set_default_statistics()
    if 'log_history' not in state:
        self.__dict__.update(
            {k: v
             for k, v in state.items() if k != 'statistics_methods'})
        return
    self.max_length = state['max_length']
    self._log_history = np.asarray(
        state['log_history'], dtype=state['log_dtype'])
    self._count_history = np.asarray(
        state['count_history'], dtype=state['count_dtype'])


def _load_url_safely(url: str,
                     model_dir: str | None = None,
                     map_location: MapLocation = None,
                     progress: bool = True) -> Any:
    """Download a checkpoint into the torch hub cache once, load it safely.

    Stands in for ``torch.hub.load_state_dict_from_url`` (``weights_only``
    defaults to ``False`` there), which mmengine's ``http(s)://``,
    ``torchvision://``, ``open-mmlab://`` and ``mmcls://`` loaders call.

    Args:
        url (str): The checkpoint's URL.
        model_dir (str, optional): Cache folder. Defaults to
            ``<torch hub dir>/checkpoints``.
        map_location (str | torch.device | dict | Callable | None): As in
            :func:`torch.load`. Defaults to None.
        progress (bool): Show a download progress bar. Defaults to True.

    Returns:
        Any: The unpickled checkpoint.
    """
    model_dir = model_dir or os.path.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached_file = os.path.join(model_dir,
                               os.path.basename(urlparse(url).path))
    if not os.path.exists(cached_file):
        torch.hub.download_url_to_file(url, cached_file, progress=progress)
    return load_checkpoint_safely(cached_file, map_location)


class _TorchWithSafeLoad(types.ModuleType):
    """``torch`` as ``mmengine.runner.checkpoint`` sees it.

    Every attribute is torch's own except ``load``: that module's local,
    ``s3://``/``petrel://``, ``pavi://`` and ``open-mmlab://`` loaders all
    call ``torch.load(f, map_location=...)``, so binding this object to the
    module's name ``torch`` routes each of them through
    :func:`load_checkpoint_safely`.
    """

    def __init__(self) -> None:
        super().__init__('torch')

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def load(f: PathOrFile, map_location: MapLocation = None) -> Any:
        """Load ``f`` with :func:`load_checkpoint_safely`."""
        return load_checkpoint_safely(f, map_location)


def install_checkpoint_safety() -> None:
    """Patch mmengine so that it saves and loads checkpoints safely.

    Sets ``HistoryBuffer.__getstate__`` / ``__setstate__`` (a buffer pickles
    as plain lists) and replaces the names ``torch`` and ``load_url`` of
    ``mmengine.runner.checkpoint`` (every loader there goes through
    :func:`load_checkpoint_safely`). Idempotent: calling it again changes
    nothing.
    """
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    HistoryBuffer.__setstate__ = _history_buffer_setstate
    if not isinstance(mmengine_checkpoint.torch, _TorchWithSafeLoad):
        mmengine_checkpoint.torch = _TorchWithSafeLoad()
    mmengine_checkpoint.load_url = _load_url_safely
