"""Checks that run before a tool builds anything (runner, model, data).

The command-line tools (``tools/train.py``, ``tools/test.py``, ...) call
these on the merged config, so that a mistake the user can fix stops the
run at once, with the config key or the command-line flag named, and
without a half-made work dir left behind.
"""
import copy
import difflib
import inspect
import logging
import os
import os.path as osp
from typing import (Any, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Tuple)

from mmengine.config import Config
from mmengine.logging import print_log

from ..utils.checkpoint_files import (checkpoint_damage,
                                      find_resumable_checkpoint,
                                      read_last_checkpoint_record)
from ..utils.dataset_checks import dataset_problems
from ..utils.user_errors import UserError
from ..utils.validation import ConfigError
from .config_checks import config_problems

#: The top-level dataloader keys of an mmengine config.
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def load_config(path: str, options: Optional[dict] = None) -> Config:
    """Read a config file and apply ``--cfg-options``.

    Args:
        path (str): The config file.
        options (dict, optional): ``--cfg-options``, merged into it.

    Returns:
        Config: The merged config.

    Raises:
        UserError: The file does not exist.
    """
    if not osp.isfile(path):
        raise UserError(f'Config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as error:
        raise UserError(f'Config file {path} is not valid Python: '
                        f'{error.msg} (line {error.lineno}).') from error
    if options:
        cfg.merge_from_dict(options)
    return cfg


def iter_dataloaders(cfg: dict) -> Iterator[Tuple[str, dict]]:
    """``(key path, config)`` of every dataloader config in ``cfg``.

    Finds the top-level ``train_dataloader`` / ``val_dataloader`` /
    ``test_dataloader`` and the dataloaders that hooks build themselves
    (a ``*dataloader`` argument of a ``custom_hooks`` entry, e.g. the
    ``KNNMonitorHook``).

    Args:
        cfg (dict): The full config (or a part with the same keys).

    Yields:
        tuple[str, dict]: E.g. ``('train_dataloader', {...})`` or
        ``('custom_hooks[2].val_dataloader', {...})``.
    """
    for key in DATALOADER_KEYS:
        if isinstance(cfg.get(key), dict):
            yield key, cfg[key]
    for index, hook in enumerate(cfg.get('custom_hooks') or []):
        if not isinstance(hook, dict):
            continue
        for name, value in hook.items():
            if name.endswith('dataloader') and isinstance(value, dict):
                yield f'custom_hooks[{index}].{name}', value


def fix_persistent_workers(cfg: dict) -> None:
    """Switch ``persistent_workers`` off where ``num_workers`` is 0.

    torch's ``DataLoader`` refuses ``persistent_workers=True`` without
    worker processes (``ValueError: persistent_workers option needs
    num_workers > 0``). ``num_workers=0`` is a legitimate choice (e.g. for
    an exactly reproducible resume), so the flag, which then has nothing to
    keep alive, is turned off with an info line instead.

    Args:
        cfg (dict): The full config; changed in place.
    """
    for key, loader in iter_dataloaders(cfg):
        if loader.get('persistent_workers') and \
                not loader.get('num_workers', 0):
            loader['persistent_workers'] = False
            print_log(
                f'{key}.persistent_workers: switched off, as '
                f'{key}.num_workers=0 starts no worker process to keep.',
                logger='current', level=logging.INFO)


def fix_pin_memory(cfg: dict, cuda: Optional[bool] = None) -> None:
    """Switch ``pin_memory`` off on a machine without a GPU.

    The GPU configs pin the batches in page-locked memory, so that the copy
    to the GPU is fast and does not stall the host (the data preprocessor
    copies with ``non_blocking=True``). Without a GPU there is nothing to
    copy to and torch's ``DataLoader`` warns on every loader; the flag is
    turned off with an info line instead.

    Args:
        cfg (dict): The full config; changed in place.
        cuda (bool, optional): Whether a GPU is there. Defaults to None:
            ``torch.cuda.is_available()``.
    """
    if cuda is None:
        import torch
        cuda = torch.cuda.is_available()
    if cuda:
        return
    for key, loader in iter_dataloaders(cfg):
        if loader.get('pin_memory'):
            loader['pin_memory'] = False
            print_log(f'{key}.pin_memory: switched off, as there is no GPU '
                      'to copy the batches to.', logger='current',
                      level=logging.INFO)


def latest_checkpoint(work_dir: str, if_any: bool = False) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    The newest checkpoint of the work dir that is complete
    (:func:`~cmd_plugin.utils.checkpoint_files.find_resumable_checkpoint`:
    the files ``epoch_<N>.pth`` / ``iter_<N>.pth`` and the one
    ``<work_dir>/last_checkpoint`` names, ordered by training progress). A
    truncated or corrupt one is skipped with a warning that names it; one
    whose pickle would need globals outside the allow-list stops the run
    (:class:`~cmd_plugin.utils.checkpoint_safety.UnsafeCheckpointError`).

    Args:
        work_dir (str): The run's work dir.
        if_any (bool): ``--resume-if-any``: return None when there is
            nothing to resume (the run starts from scratch) instead of
            raising. Defaults to False (``--resume``).

    Returns:
        str | None: The path of the checkpoint; None if there is none and
        ``if_any``.

    Raises:
        UserError: There is nothing to resume (and not ``if_any``), or
            every checkpoint of the work dir is damaged.
        UnsafeCheckpointError: A checkpoint of the work dir is refused by
            the safe loader.
    """
    flag = '--resume-if-any' if if_any else '--resume'
    search = find_resumable_checkpoint(work_dir)
    for path, why in search.skipped:
        print_log(f'{flag}: skipped the checkpoint {path}: {why}.',
                  logger='current', level=logging.WARNING)
    if search.path is not None:
        if search.skipped:
            print_log(f'{flag}: resuming from {search.path} (iteration '
                      f'{search.iteration}), the newest complete checkpoint.',
                      logger='current', level=logging.WARNING)
        return search.path
    if search.skipped:
        raise UserError(
            f'{flag}: no complete checkpoint in the work dir {work_dir!r}: '
            + '; '.join(f'{path} is {why}' for path, why in search.skipped)
            + '. Pass an intact checkpoint with --resume PATH.')
    recorded = read_last_checkpoint_record(work_dir)
    if recorded is not None and not if_any:
        raise UserError(
            f'--resume: {osp.join(work_dir, "last_checkpoint")!r} names the '
            f'checkpoint {recorded!r}, which does not exist. Pass another '
            'checkpoint with --resume PATH.')
    if if_any:
        print_log(
            f'--resume-if-any: no checkpoint in the work dir {work_dir!r} '
            'yet; training starts from scratch.',
            logger='current', level=logging.INFO)
        return None
    what = ('does not exist' if not osp.isdir(work_dir) else
            'holds no checkpoint (no last_checkpoint file, no epoch_<N>.pth '
            'or iter_<N>.pth)')
    raise UserError(
        f'--resume: nothing to resume, the work dir {work_dir!r} '
        f'{what}. Pass the checkpoint (--resume PATH), check --work-dir, '
        'or use --resume-if-any to resume when there is a checkpoint '
        'and start from scratch otherwise.')


def checkpoint_problem(path: Optional[str], name: str) -> Optional[str]:
    """What is wrong with a checkpoint path, or None if nothing.

    A zip checkpoint must be whole (its archive's end record is there: a
    file cut off mid-write is reported as truncated). URLs and other remote
    locations (``scheme://...``) are not checked.

    Args:
        path (str | None): The path; None or ``''`` counts as unset.
        name (str): The flag, argument or config key that gives it, e.g.
            ``'--resume'`` or ``'model.init_cfg.checkpoint'``.

    Returns:
        str | None: A message naming ``name`` and ``path``.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        return None  # e.g. an in-memory object; nothing to check
    path = os.fspath(path) if path else ''
    if '://' in path:
        return None
    hint = (f' Set it with --cfg-options {name}=PATH.'
            if '.' in name or name == 'load_from' else '')
    if not path:
        return f'{name}: no checkpoint given.{hint}'
    if osp.isdir(path):
        return f'{name}: {path!r} is a folder, not a checkpoint file.{hint}'
    if not osp.isfile(path):
        return f'{name}: checkpoint file {path!r} does not exist.{hint}'
    damage = checkpoint_damage(path, deep=False)
    if damage is not None:
        return f'{name}: checkpoint file {path!r} is {damage}.{hint}'
    return None


def check_checkpoint(path: Optional[str], name: str) -> None:
    """Raise :class:`UserError` unless ``path`` is an existing file.

    Args:
        path (str | None): The checkpoint path.
        name (str): The flag, argument or config key that gives it.
    """
    problem = checkpoint_problem(path, name)
    if problem:
        raise UserError(problem)


def init_checkpoints(node: Any, path: str = 'model') -> Iterator[Tuple[str,
                                                                      Any]]:
    """``(key path, value)`` of every ``init_cfg.checkpoint`` below ``node``.

    Args:
        node (Any): A model config (or any part of one).
        path (str): Its key path. Defaults to ``'model'``.

    Yields:
        tuple[str, Any]: E.g. ``('model.backbone.init_cfg.checkpoint',
        'vits16_dino.pth')``.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            sub_path = f'{path}.{key}'
            if key == 'init_cfg':
                inits = value if isinstance(value, (list, tuple)) else [value]
                for index, init in enumerate(inits):
                    if isinstance(init, dict) and 'checkpoint' in init:
                        where = (sub_path if inits is not value else
                                 f'{sub_path}[{index}]')
                        yield f'{where}.checkpoint', init['checkpoint']
            else:
                yield from init_checkpoints(value, sub_path)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from init_checkpoints(value, f'{path}[{index}]')


def _keywords(cls: type) -> Tuple[List[str], List[str], bool]:
    """The keyword arguments ``cls(...)`` accepts.

    A constructor with ``**kwargs`` is taken to pass them on to its base
    class (as mmengine's ``AmpOptimWrapper`` does), whose arguments are
    added.

    Returns:
        tuple: The accepted names, the required ones (no default), and
        whether any name is accepted (``**kwargs`` reaching ``object``).
    """
    names, required = [], []
    for klass in cls.__mro__:
        if klass is object:
            return names, required, True
        if '__init__' not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters
        for name, parameter in list(parameters.items())[1:]:  # not self
            if parameter.kind in (parameter.VAR_POSITIONAL,
                                  parameter.VAR_KEYWORD) or name in names:
                continue
            names.append(name)
            if parameter.default is parameter.empty and \
                    klass is cls:
                required.append(name)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            return names, required, False
    return names, required, True


def _unknown(path: str, keys: Iterable[str], valid: Iterable[str]) -> List[str]:
    """One message per key of ``keys`` that is not in ``valid``."""
    valid = sorted(set(valid))
    problems = []
    for key in keys:
        if key in valid:
            continue
        close = difflib.get_close_matches(key, valid, n=1)
        hint = (f'did you mean {close[0]}?' if close else
                f'valid keys are {valid}.')
        problems.append(f'{path}.{key}: unknown key; {hint}')
    return problems


def _lookup(registry: Any, value: Any) -> Optional[type]:
    """The class a config's ``type`` names, or None if not found."""
    if isinstance(value, type):
        return value
    if isinstance(value, str):
        found = registry.get(value)
        return found if isinstance(found, type) else None
    return None


def _check_keys(path: str, cfg: dict, cls: Optional[type],
                given: Iterable[str] = (),
                extra: Iterable[str] = ()) -> List[str]:
    """Check the keys of ``cfg`` against the arguments of ``cls``.

    Args:
        path (str): Key path of ``cfg``.
        cfg (dict): The component's config.
        cls (type | None): Its class; None skips the check.
        given (Iterable[str]): Arguments the builder passes itself (not
            valid in the config).
        extra (Iterable[str]): Keys the builder reads itself (valid in the
            config, not arguments of ``cls``).

    Returns:
        list[str]: The problems found.
    """
    if cls is None:
        return []
    names, required, open_ended = _keywords(cls)
    given, extra = set(given), set(extra)
    problems = []
    if not open_ended:
        problems += _unknown(path, [k for k in cfg if k != 'type'],
                             [n for n in names if n not in given] +
                             list(extra) + ['type'])
    problems += [
        f'{path}.{name}: required by {cls.__name__} but not set.'
        for name in required if name not in given and name not in cfg
    ]
    return problems


def unknown_key_problems(cfg: dict) -> List[str]:
    """Keys of the loops, dataloaders and optimiser that nothing reads.

    mmengine passes these configs to their classes as keyword arguments, so
    a misspelt key (``train_cfg.max_epoch``) would fail only after the
    runner and the work dir exist, with a bare ``TypeError``. Checked
    against the classes' signatures: ``train_cfg`` / ``val_cfg`` /
    ``test_cfg`` (the loop classes), every dataloader (torch's
    ``DataLoader`` and the keys mmengine reads) and its ``sampler``, and
    ``optim_wrapper`` (the wrapper class, and its ``optimizer``) when it is
    built by mmengine's default constructor or a subclass of it.

    Args:
        cfg (dict): The full config.

    Returns:
        list[str]: E.g. ``'train_cfg.max_epoch: unknown key; did you mean
        max_epochs?'``.
    """
    from mmengine.optim import DefaultOptimWrapperConstructor
    from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop,
                                 TestLoop, ValLoop)
    from torch.utils.data import DataLoader

    from mmpretrain.registry import (DATA_SAMPLERS, LOOPS, OPTIM_WRAPPERS,
                                     OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS)
    problems = []
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict):
        if 'type' in train_cfg:
            loop, extra = _lookup(LOOPS, train_cfg['type']), ()
        else:
            loop = (EpochBasedTrainLoop if train_cfg.get('by_epoch', True)
                    else IterBasedTrainLoop)
            extra = ('by_epoch', )
        problems += _check_keys('train_cfg', train_cfg, loop,
                                given=('runner', 'dataloader'), extra=extra)
    for key, default in (('val_cfg', ValLoop), ('test_cfg', TestLoop)):
        loop_cfg = cfg.get(key)
        if isinstance(loop_cfg, dict):
            loop = (_lookup(LOOPS, loop_cfg['type'])
                    if 'type' in loop_cfg else default)
            problems += _check_keys(key, loop_cfg, loop,
                                    given=('runner', 'dataloader',
                                           'evaluator'))
    mmengine_keys = ('dataset', 'sampler', 'batch_sampler', 'collate_fn',
                     'worker_init_fn', 'num_batch_per_epoch',
                     'disable_subprocess_warning')
    for key, loader in iter_dataloaders(cfg):
        problems += _check_keys(key, loader, DataLoader,
                                given=('type', ), extra=mmengine_keys)
        sampler = loader.get('sampler')
        if isinstance(sampler, dict) and 'type' in sampler:
            problems += _check_keys(f'{key}.sampler', sampler,
                                    _lookup(DATA_SAMPLERS, sampler['type']),
                                    given=('dataset', 'seed'))
    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, dict):
        constructor = _lookup(
            OPTIM_WRAPPER_CONSTRUCTORS,
            wrapper.get('constructor', 'DefaultOptimWrapperConstructor'))
        if constructor is not None and issubclass(
                constructor, DefaultOptimWrapperConstructor):
            problems += _check_keys(
                'optim_wrapper', wrapper,
                _lookup(OPTIM_WRAPPERS, wrapper.get('type', 'OptimWrapper')),
                extra=('constructor', 'paramwise_cfg'))
            optimizer = wrapper.get('optimizer')
            if isinstance(optimizer, dict) and 'type' in optimizer:
                problems += _check_keys(
                    'optim_wrapper.optimizer', optimizer,
                    _lookup(OPTIMIZERS, optimizer['type']),
                    given=('params', ))
    return problems


def class_count_problem(cfg: dict, loader_key: str) -> Optional[str]:
    """Check ``model.head.num_classes`` against the labels of a dataset.

    For a classifier (a linear probe): the dataset of ``loader_key`` is
    built without its pipeline and its labels are counted. mmpretrain's
    ``CUB`` takes the number of classes from its built-in list of 200
    whatever the folder holds, so a 50-class subset would otherwise train
    200 outputs without a word.

    * labels ``>= num_classes``: an error (the loss would fail later);
    * labels ``0 .. n-1`` (all of them used) and ``num_classes != n``: an
      error, with the value to set;
    * other labels (a subset of a larger label set, e.g. classes 3, 17,
      42 of 200): a warning, as the subset may be intended.

    Args:
        cfg (dict): The full config.
        loader_key (str): The dataloader whose dataset gives the labels,
            e.g. ``'train_dataloader'``.

    Returns:
        str | None: The problem, naming ``model.head.num_classes`` and the
        number of classes found; None if none (or nothing to check: no
        ``num_classes``, no labels, or a dataset that does not build here,
        which the runner will then report).
    """
    from mmpretrain.registry import DATASETS
    head = (cfg.get('model') or {}).get('head')
    loader = cfg.get(loader_key)
    if not isinstance(head, dict) or not isinstance(
            head.get('num_classes'), int) or not isinstance(loader, dict) \
            or not isinstance(loader.get('dataset'), dict):
        return None
    num_classes = head['num_classes']
    dataset_cfg = copy.deepcopy(dict(loader['dataset']))
    if 'pipeline' in dataset_cfg:
        dataset_cfg['pipeline'] = []
    try:
        dataset = DATASETS.build(dataset_cfg)
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        labels = sorted({int(label) for label in dataset.get_gt_labels()})
    except Exception:  # no labels, or the runner will report the error
        return None
    if not labels:
        return None
    found = (f'{loader_key}.dataset has {len(labels)} classes (labels '
             f'{labels[0]}-{labels[-1]}')
    root = dataset_cfg.get('data_root')
    found += f", in {root!r})" if root else ')'
    fix = f' Set --cfg-options model.head.num_classes={len(labels)}.'
    if labels[-1] >= num_classes:
        return (f'model.head.num_classes={num_classes}, but {found}: labels '
                f'must be < num_classes.{fix if labels[0] == 0 else ""}')
    if labels == list(range(len(labels))):
        if num_classes != len(labels):
            return f'model.head.num_classes={num_classes}, but {found}.{fix}'
        return None
    print_log(
        f'model.head.num_classes={num_classes} and {found}: training on a '
        'subset of the classes.', logger='current', level=logging.WARNING)
    return None


def schedule_hook_problem(cfg: dict) -> Optional[str]:
    """A CMD pre-training whose ``custom_hooks`` lost the teacher schedule.

    A config that assigns ``custom_hooks`` replaces the list of its
    ``_base_`` schedule (``TeacherTemperatureHook``, ``TeacherMomentumHook``,
    ``FreezePrototypesHook``, ...) instead of adding to it. Without a
    ``TeacherMomentumHook`` the teacher would keep ``model.base_momentum``
    for the whole run, silently. (A run may keep the temperature constant
    on purpose, as the demo does, so only the momentum hook is required; a
    constant momentum is ``dict(type='TeacherMomentumHook', start=m,
    end=m)``.)

    Returns:
        str | None: The problem, naming ``custom_hooks`` and the fix.
    """
    model = cfg.get('model') or {}
    if str(model.get('type', '')).split('.')[-1] != 'CMD' or \
            not cfg.get('train_cfg'):
        return None
    types = [str(h.get('type', '')).split('.')[-1]
             for h in cfg.get('custom_hooks') or [] if isinstance(h, dict)]
    if 'TeacherMomentumHook' in types:
        return None
    return ('custom_hooks: no TeacherMomentumHook, so the teacher would keep '
            'model.base_momentum for the whole run. A config that assigns '
            'custom_hooks replaces the schedule hooks of its _base_ '
            '(TeacherTemperatureHook, TeacherMomentumHook, '
            'FreezePrototypesHook, ...); add to them instead: custom_hooks '
            "= _base_.custom_hooks + [dict(type='KNNMonitorHook', ...)].")


def preflight(cfg: dict,
              checkpoints: Optional[Dict[str, Optional[str]]] = None,
              dataloaders: Sequence[str] = DATALOADER_KEYS,
              init_weights: bool = True) -> None:
    """Check everything a tool can check before it builds anything.

    1. ``persistent_workers`` is switched off where ``num_workers`` is 0
       (:func:`fix_persistent_workers`), ``pin_memory`` without a GPU
       (:func:`fix_pin_memory`); an info line, not an error.
    2. The plugin's components (:func:`~.config_checks.config_problems`).
    3. Unknown keys of the loops, dataloaders and optimiser
       (:func:`unknown_key_problems`).
    4. Every checkpoint: those the tool's flags or arguments give
       (``checkpoints``), ``load_from`` (unless a flag gave it) and, when
       the run initialises the model's weights, every
       ``init_cfg.checkpoint`` in ``model``.
    5. The data of the dataloaders the run uses
       (:func:`~cmd_plugin.utils.dataset_checks.dataset_problems`), all at
       once.
    6. If all of that passed: ``model.head.num_classes`` against the labels
       of the first of those dataloaders (:func:`class_count_problem`).
    7. A CMD pre-training keeps its teacher schedule
       (:func:`schedule_hook_problem`).

    Args:
        cfg (dict): The full config, after ``--cfg-options``; changed in
            place by step 1.
        checkpoints (dict[str, str | None], optional): Checkpoint paths the
            tool's command line gives, by flag or argument name (e.g.
            ``{'--resume': 'work_dirs/x/epoch_3.pth'}``). Defaults to None.
        dataloaders (Sequence[str]): The top-level dataloaders the run
            builds (e.g. ``('test_dataloader',)`` for a test); dataloaders
            of ``custom_hooks`` are always checked. Defaults to all three.
        init_weights (bool): Whether the run calls ``init_weights`` (a
            training run does, a test does not), so that the
            ``init_cfg.checkpoint`` paths are read. Defaults to True.

    Raises:
        ConfigError: Listing every problem found, each naming its config
            key or command-line flag.
    """
    fix_persistent_workers(cfg)
    fix_pin_memory(cfg)
    problems = config_problems(cfg) + unknown_key_problems(cfg)
    problems += [p for p in [schedule_hook_problem(cfg)] if p]
    checkpoints = dict(checkpoints or {})
    load_from = cfg.get('load_from')
    if load_from and load_from not in checkpoints.values():
        checkpoints['load_from'] = load_from
    if init_weights:
        checkpoints.update(init_checkpoints(cfg.get('model')))
    problems += [
        problem for name, path in checkpoints.items()
        for problem in [checkpoint_problem(path, name)] if problem
    ]
    data_ok = []
    for key, loader in iter_dataloaders(cfg):
        if (key in dataloaders or key.startswith('custom_hooks')) and \
                isinstance(loader.get('dataset'), dict):
            found = dataset_problems(loader['dataset'], f'{key}.dataset')
            problems += found
            if not found:
                data_ok.append(key)
    if data_ok and not problems:  # builds a dataset: only when all is well
        problems += [p for p in [class_count_problem(cfg, data_ok[0])] if p]
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f'{len(problems)} problems, found before building '
                          'anything:\n  ' + '\n  '.join(problems))
