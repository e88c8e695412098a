"""Find the checkpoint a run resumes from: the newest one that is complete.

A run killed at the wrong moment by an older writer (or a file system that
lost data) can leave a truncated or corrupt checkpoint next to complete
ones, or a ``last_checkpoint`` record that names a missing or damaged file.
:func:`find_resumable_checkpoint` looks at every training checkpoint of a
work dir (``epoch_<N>.pth``, ``iter_<N>.pth`` and the file
``last_checkpoint`` names), orders them by training progress (the iteration
in their ``meta``), and returns the newest one whose archive is complete
(every member passes its CRC check); the damaged ones are returned too, so
that the caller can warn about each by name.

A checkpoint whose pickle needs globals outside the allow-list
(:func:`~cmd_plugin.utils.checkpoint_safety.load_checkpoint_safely` refuses
it) is not skipped: :class:`UnsafeCheckpointError` propagates. A file that
would run code on loading means the work dir was tampered with; that is an
error to look at, never a file to pass over silently.
"""
import os
import os.path as osp
import re
import zipfile
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .atomic_files import is_temporary
from .checkpoint_safety import UnsafeCheckpointError, load_checkpoint_safely

#: Names of the checkpoints mmengine's CheckpointHook (and the plugin's
#: CMDCheckpointHook) write by default.
TRAINING_CHECKPOINT = re.compile(r'^(epoch|iter)_\d+\.pth$')

_ZIP_MAGIC = b'PK\x03\x04'


def checkpoint_damage(path: str, deep: bool = True) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint file, or None.

    A checkpoint in torch's zip format is complete when the archive's
    central directory (written last) is there and, with ``deep``, every
    member passes its CRC-32 check (reads the whole file, builds no tensor).
    A file in torch's legacy (non-zip) format is not checked here (None).

    Args:
        path (str): The file.
        deep (bool): Check every member's CRC. Defaults to True.

    Returns:
        str | None: E.g. ``'truncated: 1234 bytes, the zip archive has no
        end record'``.
    """
    try:
        size = osp.getsize(path)
        with open(path, 'rb') as file:
            head = file.read(4)
    except OSError as error:
        return f'unreadable ({error.strerror})'
    if size == 0:
        return 'empty (0 bytes)'
    if head != _ZIP_MAGIC:
        return None
    if not zipfile.is_zipfile(path):
        return (f'truncated: {size} bytes, the zip archive has no end '
                'record')
    if not deep:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        return f'damaged zip archive ({error})'
    if bad is not None:
        return f'corrupt: {bad} fails its CRC check'
    return None


@dataclass
class ResumeSearch:
    """What :func:`find_resumable_checkpoint` found.

    Attributes:
        path (str | None): The newest complete checkpoint; None if there is
            none.
        iteration (int | None): Its ``meta['iter']``.
        skipped (list[tuple[str, str]]): ``(path, why)`` of each damaged
            candidate.
        candidates (int): How many files were looked at.
    """
    path: Optional[str] = None
    iteration: Optional[int] = None
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    candidates: int = 0


def read_last_checkpoint_record(work_dir: str) -> Optional[str]:
    """The path ``<work_dir>/last_checkpoint`` names, or None."""
    record = osp.join(work_dir, 'last_checkpoint')
    try:
        with open(record) as file:
            return file.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def resume_candidates(work_dir: str) -> List[str]:
    """The training checkpoints of ``work_dir``, last-recorded first.

    ``epoch_<N>.pth`` and ``iter_<N>.pth`` in the work dir and in the folder
    of the file ``last_checkpoint`` names (a CheckpointHook ``out_dir``),
    plus that file itself. Temporary files of an unfinished write are never
    candidates.
    """
    recorded = read_last_checkpoint_record(work_dir)
    folders = [work_dir]
    paths = []
    if recorded is not None:
        if osp.isfile(recorded):
            paths.append(recorded)
        folder = osp.dirname(recorded)
        if folder and osp.isdir(folder) and not any(
                osp.samefile(folder, f) for f in folders if osp.isdir(f)):
            folders.append(folder)
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = osp.join(folder, name)
            if (TRAINING_CHECKPOINT.match(name) and not is_temporary(name)
                    and osp.isfile(path) and not any(
                        osp.samefile(path, p) for p in paths)):
                paths.append(path)
    return paths


def _progress(path: str) -> Tuple[Optional[Tuple[int, int]], Optional[str]]:
    """``((meta['iter'], meta['epoch']), None)``, or ``(None, why not)``.

    Raises:
        UnsafeCheckpointError: The file is a complete archive whose pickle
            the safe loader refuses.
    """
    damage = checkpoint_damage(path, deep=False)
    if damage is not None:
        return None, damage
    try:
        try:
            checkpoint = load_checkpoint_safely(path, mmap=True)
        except RuntimeError as error:
            if 'mmap' not in str(error):
                raise
            checkpoint = load_checkpoint_safely(path)  # legacy format
    except UnsafeCheckpointError:
        damage = checkpoint_damage(path)
        if damage is None:
            raise
        return None, damage
    except Exception as error:  # noqa: BLE001  (any failure = damaged)
        damage = checkpoint_damage(path)
        detail = f'{type(error).__name__}: {error}'.strip().rstrip(':')
        return None, damage or f'cannot be loaded ({detail.splitlines()[0]})'
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    iteration = meta.get('iter') if isinstance(meta, dict) else None
    if not isinstance(iteration, int):
        return None, 'not a training checkpoint (no meta.iter)'
    epoch = meta.get('epoch')
    return (iteration, epoch if isinstance(epoch, int) else 0), None


def find_resumable_checkpoint(work_dir: str) -> ResumeSearch:
    """The newest complete checkpoint of a work dir, and the damaged ones.

    Candidates (:func:`resume_candidates`) are read with the safe loader
    (tensors memory-mapped, not read) for their ``meta['iter']`` and ordered
    by it, then by ``meta['epoch']``, by modification time and by whether
    ``last_checkpoint`` names them; the first whose archive passes the full
    CRC check wins.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        ResumeSearch: The checkpoint (``path`` None if none is complete)
        and the skipped ones with the reason.

    Raises:
        UnsafeCheckpointError: A candidate needs globals outside the
            allow-list (refused, never skipped).
    """
    search = ResumeSearch()
    candidates = resume_candidates(work_dir)
    search.candidates = len(candidates)
    recorded = read_last_checkpoint_record(work_dir)
    ranked = []
    for path in candidates:
        progress, damage = _progress(path)
        if damage is not None:
            search.skipped.append((path, damage))
            continue
        ranked.append((*progress, osp.getmtime(path), path == recorded,
                       path))
    for iteration, _, _, _, path in sorted(ranked, reverse=True):
        damage = checkpoint_damage(path)
        if damage is not None:
            search.skipped.append((path, damage))
            continue
        search.path, search.iteration = path, iteration
        break
    return search
