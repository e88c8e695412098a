"""Fault test: kill -9 training at random moments and check the resume.

    python tools/fault_test.py --trials 20 --json fault.json
        [--work-dir DIR] [--seed 0] [--kills-per-run 4] [--slow-save 0.6]
        [--keep]

Trains a tiny CMD model (the demo's ResNet-mini at 8-16-32 channels on 32 px
synthetic images, CPU, ``num_workers=0``) for 8 epochs of 4 iterations, with
a checkpoint every 3 iterations (``by_epoch=False, interval=3,
max_keep_ckpts=2``), through ``tools/train.py``:

1. an uninterrupted reference run;
2. ``--trials`` kills: runs of ``--kills-per-run`` trials each; a trial lets
   the run train, sends ``SIGKILL`` at a random moment (half of the trials
   at a random point of a checkpoint save's file operations: writing the
   temporary file, the renames, ``last_checkpoint``, deleting the oldest
   checkpoint; the others after a random number of iterations, anywhere),
   checks
   the work dir (no file under a checkpoint's name is incomplete; the newest
   checkpoint that had been completed is still there), then restarts the
   same command with ``--resume`` (``--resume-if-any`` when the kill came
   before the first checkpoint was complete) and records the iteration it
   resumed from;
   each run is resumed until it finishes and its last checkpoint must equal
   the reference run's bit for bit (weights, optimiser state, schedulers);
3. a SIGTERM trial (sent after an iteration without a regular checkpoint:
   the run must stop after the current iteration with exit status 143, with
   a checkpoint of that iteration, and resume from it);
4. a disk-full trial (the third checkpoint write fails with ``ENOSPC``
   halfway; ``max_keep_ckpts=1``): exit status 2, a message naming the work
   dir and the space needed, the previous checkpoint intact;
5. a damaged-newest trial: after a kill, a malicious newest checkpoint must
   be refused (exit status 2, its payload never runs), then a truncated
   newest checkpoint must be skipped with a warning naming it.

Every run ends with the reference run's weights. The training processes are
started by this script in a probe mode (``--child``) that wraps
``tools/train.py`` with a journal of what happens (iterations, the stages of
each checkpoint save, resumes) and, only here, slows each checkpoint write
down (``--slow-save`` seconds, in 16 pieces, plus pauses after each rename
and before each deletion) so that kills land inside saves.

``--json`` gets one record per trial (when it was killed, whether during a
save and in which stage: ``serialise`` (mmengine builds the checkpoint in
memory), ``write`` (the temporary file), ``renamed`` (the checkpoint is in
place, ``last_checkpoint`` not yet), ``record`` / ``recorded``
(``last_checkpoint`` written / in place), ``delete`` (the checkpoint no
longer kept); whether the resume succeeded, the iterations lost)
and the summary, with ``final_weights_equal``. The exit status is 0 when
every check passed, 1 otherwise.
"""
import argparse
import errno
import importlib.util
import json
import os
import os.path as osp
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / 'tools' / 'train.py'
EPOCHS, ITERS_PER_EPOCH, INTERVAL = 8, 4, 3
MAX_ITERS = EPOCHS * ITERS_PER_EPOCH
FINAL = f'iter_{MAX_ITERS}.pth'
STARTUP_TIMEOUT = 1800  # seconds; imports are slow on a loaded machine
RUN_TIMEOUT = 3600

CONFIG = f"""
# Written by tools/fault_test.py: a tiny CPU run of the demo recipe.
_base_ = {str(ROOT / 'configs/demo/cmd_resnet-mini_synthetic.py')!r}
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(attn_channels=16),
    head=dict(num_prototypes=64, hidden_channels=32,
              bottleneck_channels=16))
photometric = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.0)],
         prob=0.8),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(
        num_classes=2, num_per_class={ITERS_PER_EPOCH * 2}, image_size=32,
        pipeline=[
            dict(type='CMDMultiCrop', global_size=32, global_scale=(0.3, 1.0),
                 num_local=2, local_size=16, local_scale=(0.1, 0.3),
                 global_pipelines=[photometric, photometric],
                 local_pipeline=photometric),
            dict(type='PackInputs', meta_keys=['crop_boxes', 'crop_flips']),
        ]))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         end={EPOCHS}, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end={EPOCHS},
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs={EPOCHS})
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07,
         warmup_epochs=2),
    dict(type='TeacherMomentumHook', start=0.9, end=1.0),
    dict(type='FreezePrototypesHook', epochs=1),
]
default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(by_epoch=False, interval={INTERVAL}, max_keep_ckpts=2))
randomness = dict(seed=0, deterministic=True)
"""


# --------------------------------------------------------------------------
# Child: tools/train.py with a journal and slow checkpoint writes
# --------------------------------------------------------------------------


class Journal:
    """Append one line per event, unbuffered (it survives kill -9)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pid = os.getpid()

    def __call__(self, event: str, *args) -> None:
        line = ' '.join([f'{time.time():.4f}', str(self.pid), event] +
                        [str(a) for a in args])
        os.write(self.fd, (line + '\n').encode())


def install_probes(journal: Journal, slow: float,
                   disk_full_at: Optional[int]) -> None:
    """Wrap the checkpoint writer and hook with journal events (and delays).

    Args:
        journal (Journal): Where events go.
        slow (float): Seconds a checkpoint write takes at least (16 pieces);
            a tenth of it after each rename and before each deletion.
        disk_full_at (int, optional): The checkpoint write (1-based) that
            fails with ENOSPC after half of its bytes.
    """
    from cmd_plugin.engine.hooks import cmd_checkpoint_hook as hook_module
    from cmd_plugin.engine.runner import cmd_runner
    from cmd_plugin.utils import atomic_files

    hook_class = hook_module.CMDCheckpointHook
    counter = {'writes': 0}
    write_all = atomic_files._write_all
    fsync_folder = atomic_files.fsync_folder

    def slow_write_all(file, data):
        if len(data) < 4096:  # last_checkpoint
            journal('stage', 'record')
            counter['record'] = True
            return write_all(file, data)
        counter['writes'] += 1
        journal('stage', 'write', len(data))
        pieces = 16
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            if counter['writes'] == disk_full_at and start >= len(data) // 2:
                journal('disk_full', len(data))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            write_all(file, data[start:start + step])
            if slow:
                time.sleep(slow / pieces)

    def slow_fsync_folder(folder):
        fsync_folder(folder)
        # the checkpoint, or last_checkpoint after it, is in place
        journal('stage', 'recorded' if counter.get('record') else 'renamed')
        counter['record'] = False
        if slow:
            time.sleep(slow / 10)

    atomic_files._write_all = slow_write_all
    atomic_files.fsync_folder = slow_fsync_folder

    def wrap(name, before=None, after=None):
        original = getattr(hook_class, name)

        def wrapper(self, runner, *args, **kwargs):
            if before:
                before(self, runner, *args, **kwargs)
            result = original(self, runner, *args, **kwargs)
            if after:
                after(self, runner, *args, **kwargs)
            return result

        setattr(hook_class, name, wrapper)

    wrap('before_train',
         after=lambda self, runner: journal('train_start', runner.iter))
    wrap('after_train_iter',
         before=lambda self, runner, *a, **k: journal('iter_done',
                                                      runner.iter + 1))
    wrap('_save_checkpoint_with_step',
         before=lambda self, runner, step, meta: journal(
             'save_begin', meta['iter']),
         after=lambda self, runner, step, meta: journal(
             'save_done', meta['iter']))

    original_write = hook_class._write

    def journaled_write(self, runner, filename, meta, by_epoch,
                        interrupt=False):
        if interrupt:
            journal('save_begin', meta['iter'], 'interrupt')
        path = original_write(self, runner, filename, meta, by_epoch,
                              interrupt)
        journal('complete', meta['iter'], path)
        if interrupt:
            journal('save_done', meta['iter'], 'interrupt')
        return path

    hook_class._write = journaled_write
    original_remove = hook_class._remove

    def slow_remove(self, runner, path, keep):
        journal('stage', 'delete')
        if slow:
            time.sleep(slow / 10)
        return original_remove(self, runner, path, keep)

    hook_class._remove = slow_remove
    original_resume = cmd_runner.CMDRunner.resume

    def journaled_resume(self, filename, *args, **kwargs):
        journal('resume', filename)
        return original_resume(self, filename, *args, **kwargs)

    cmd_runner.CMDRunner.resume = journaled_resume


def child_main(args: argparse.Namespace, train_argv: List[str]) -> None:
    """Run tools/train.py in this process, with the probes installed."""
    sys.path.insert(0, str(ROOT))
    import torch
    torch.set_num_threads(1)
    journal = Journal(args.journal)
    journal('process_start')
    install_probes(journal, args.slow_save, args.disk_full_at_save)
    spec = importlib.util.spec_from_file_location('train', TRAIN)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    train.main(train_argv)
    journal('process_end')


# --------------------------------------------------------------------------
# Parent: start, watch, kill, resume, check
# --------------------------------------------------------------------------


def read_events(path: Path) -> List[list]:
    """``[time, pid, event, *args]`` of each complete journal line."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            events.append([float(parts[0]), int(parts[1])] + parts[2:])
    return events


#: The training processes started; killed if this script stops early.
LIVE: List['Child'] = []


class Child:
    """One training process of a run."""

    def __init__(self, root: Path, work_dir: Path, journal: Path,
                 slow: float, resume, disk_full_at: Optional[int] = None,
                 cfg_options: Optional[List[str]] = None) -> None:
        self.journal = journal
        self.log = work_dir.parent / f'{work_dir.name}.log'
        argv = [
            sys.executable, str(Path(__file__).resolve()), '--child',
            '--journal', str(journal), '--slow-save', str(slow)
        ]
        if disk_full_at:
            argv += ['--disk-full-at-save', str(disk_full_at)]
        argv += ['--', str(root / 'fault.py'), '--work-dir', str(work_dir)]
        if resume:
            argv.append(resume if isinstance(resume, str) else '--resume')
        if cfg_options:
            argv += ['--cfg-options', *cfg_options]
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                   PYTHONPATH=os.pathsep.join(
                       [str(ROOT)] +
                       [p for p in [os.environ.get('PYTHONPATH')] if p]))
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        self.log_file = open(self.log, 'ab')
        self.log_file.write(f'\n$ {shlex.join(argv)}\n'.encode())
        self.log_file.flush()
        self.started = time.time()
        self.proc = subprocess.Popen(
            argv, cwd=str(root), stdout=self.log_file,
            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        LIVE.append(self)

    def events(self) -> List[list]:
        """This process's journal events."""
        return [e for e in read_events(self.journal) if e[1] == self.proc.pid]

    def wait_for(self, predicate, timeout: float,
                 since: float = 0.0) -> Optional[list]:
        """Wait for an event matching ``predicate`` (journaled after
        ``since``, a time); None if the process ended (or the timeout
        passed) first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            ended = self.proc.poll() is not None
            for event in self.events():
                if event[0] > since and predicate(event):
                    return event
            if ended:
                return None
            time.sleep(0.01)
        return None

    def kill(self, signum: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait()
        finally:
            self.log_file.close()

    def output(self) -> str:
        """What this process printed."""
        with open(self.log, 'rb') as f:
            f.seek(self.log_offset)
            return f.read().decode(errors='replace')


def last_iteration(events: List[list]) -> int:
    done = [int(e[3]) for e in events if e[2] in ('iter_done', 'train_start')]
    return max(done) if done else 0


def save_state(events: List[list]) -> Dict:
    """Whether the last event fell inside a save, and its stage."""
    inside, stage, iteration = False, None, None
    for event in events:
        if event[2] == 'save_begin':
            inside, stage, iteration = True, 'serialise', int(event[3])
        elif event[2] == 'save_done':
            inside, stage = False, None
        elif event[2] == 'stage' and inside:
            stage = event[3]
    return dict(during_save=inside, stage=stage if inside else None,
                save_iteration=iteration if inside else None)


def newest_complete(journal: Path) -> Optional[tuple]:
    """``(iteration, path)`` of the newest checkpoint known to be complete:
    journaled complete after its save, or resumed from."""
    known, resumed = [], {}
    for event in read_events(journal):
        if event[2] == 'complete':
            known.append((int(event[3]), event[4]))
        elif event[2] == 'resume':
            resumed[event[1]] = event[3]
        elif event[2] == 'train_start' and event[1] in resumed:
            known.append((int(event[3]), resumed.pop(event[1])))
    return max(known, key=lambda k: k[0]) if known else None


def inspect_work_dir(work_dir: Path) -> Dict:
    """Damaged files under checkpoint names; temporary files left."""
    from cmd_plugin.utils.atomic_files import is_temporary
    from cmd_plugin.utils.checkpoint_files import (TRAINING_CHECKPOINT,
                                                   checkpoint_damage)
    damaged = [
        p.name for p in sorted(work_dir.iterdir())
        if TRAINING_CHECKPOINT.match(p.name)
        and checkpoint_damage(str(p)) is not None
    ]
    temporary = [p.name for p in work_dir.iterdir() if is_temporary(p.name)]
    return dict(partial_checkpoints_visible=damaged,
                temporary_files_left=len(temporary))


def same_final_weights(work_dir: Path, reference: Path) -> bool:
    """Bitwise equality of the final checkpoints (weights, optimiser,
    schedulers)."""
    import torch

    from cmd_plugin.utils.checkpoint_safety import load_checkpoint_safely
    if not (work_dir / FINAL).exists():
        return False
    a = load_checkpoint_safely(work_dir / FINAL)
    e = load_checkpoint_safely(reference / FINAL)
    if a['meta']['iter'] != e['meta']['iter'] or \
            a['state_dict'].keys() != e['state_dict'].keys():
        return False
    if not all(torch.equal(a['state_dict'][k], v)
               for k, v in e['state_dict'].items()):
        return False
    for sa, se in zip(a['optimizer']['state'].values(),
                      e['optimizer']['state'].values()):
        if not all(torch.equal(sa[k], v) for k, v in se.items()):
            return False
    return a['param_schedulers'] == e['param_schedulers']


class FaultTest:
    """The trials of one invocation."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args, self.root = args, root
        self.rng = random.Random(args.seed)
        (root / 'fault.py').write_text(CONFIG)
        self.reference = root / 'reference'
        self.trials: List[Dict] = []
        self.runs: List[Dict] = []
        self.problems: List[str] = []

    def say(self, message: str) -> None:
        print(f'[fault_test {time.strftime("%H:%M:%S")}] {message}',
              flush=True)

    def child(self, work_dir: Path, resume=False, slow=None,
              **kwargs) -> Child:
        """Start a training process (``resume``: True for ``--resume``, or
        the flag)."""
        slow = self.args.slow_save if slow is None else slow
        return Child(self.root, work_dir,
                     self.root / f'{work_dir.name}.journal', slow, resume,
                     **kwargs)

    def run_reference(self) -> None:
        self.say('reference run (uninterrupted)')
        child = self.child(self.reference, slow=0.0)
        code = child.finish()
        if code != 0 or not (self.reference / FINAL).exists():
            raise SystemExit(f'the reference run failed (exit {code}); see '
                             f'{child.log}')

    # -- kill -9 -----------------------------------------------------------

    def kill_point(self, child: Child, mode: str) -> Optional[list]:
        """Wait for a random moment of ``mode``; None if the run ended."""
        start = child.wait_for(lambda e: e[2] == 'train_start',
                               STARTUP_TIMEOUT)
        if start is None:
            return None
        if mode == 'save':
            # a random moment of a save's file operations: writing the
            # temporary file (slow), renaming it, writing last_checkpoint,
            # deleting the checkpoint no longer kept
            write = child.wait_for(
                lambda e: e[2] == 'stage' and e[3] == 'write', RUN_TIMEOUT,
                since=time.time())
            if write is None:
                return None
            time.sleep(self.rng.uniform(0, self.args.slow_save * 1.4))
            return write
        current = last_iteration(child.events())
        target = current + self.rng.randint(1, 2 * INTERVAL)
        done = child.wait_for(
            lambda e: e[2] == 'iter_done' and int(e[3]) >= target,
            RUN_TIMEOUT)
        if done is None:
            return None
        iteration_times = [
            b[0] - a[0] for a, b in zip(child.events(), child.events()[1:])
            if a[2] == b[2] == 'iter_done'
        ] or [0.2]
        time.sleep(self.rng.uniform(0, max(iteration_times[-3:])))
        return done

    def kill_trial(self, run: int, work_dir: Path, child: Child) -> tuple:
        """Kill ``child`` at a random moment, resume. Returns the trial
        record (None if the run ended first) and the resumed child."""
        mode = 'save' if self.rng.random() < 0.5 else 'any'
        if self.kill_point(child, mode) is None or child.proc.poll() is not None:
            return None, child
        complete_before = newest_complete(child.journal)
        child.kill()
        child.finish()
        killed_after = time.time() - child.started
        events = child.events()
        state = save_state(events)
        trial = dict(
            trial=len(self.trials) + 1, run=run, mode=mode,
            killed_after_s=round(killed_after, 2),
            killed_after_iteration=last_iteration(events), **state)
        trial.update(inspect_work_dir(work_dir))
        newest = newest_complete(child.journal) or complete_before
        lost = False
        if newest is not None:
            from cmd_plugin.utils.checkpoint_files import checkpoint_damage
            path = newest[1]
            lost = not osp.isfile(path) or checkpoint_damage(path) is not None
            trial['newest_complete_checkpoint'] = osp.basename(path)
        trial['checkpoint_lost'] = lost
        # --resume; before the first checkpoint is complete there is
        # nothing to resume and the restart is --resume-if-any (which
        # starts from scratch then)
        trial['restart_flag'] = '--resume' if newest else '--resume-if-any'
        resumed = self.child(work_dir, resume=trial['restart_flag'])
        start = resumed.wait_for(lambda e: e[2] == 'train_start',
                                 STARTUP_TIMEOUT)
        resume_event = [e for e in resumed.events() if e[2] == 'resume']
        trial['resume_succeeded'] = start is not None
        if start is not None:
            trial['resumed_from'] = (osp.basename(resume_event[0][3])
                                     if resume_event else None)
            trial['resumed_from_iteration'] = int(start[3])
            trial['iterations_lost'] = (trial['killed_after_iteration'] -
                                        int(start[3]))
            if newest is not None and int(start[3]) < newest[0]:
                trial['resume_succeeded'] = False  # an older checkpoint
        checks = {
            'no partial checkpoint visible':
            not trial['partial_checkpoints_visible'],
            'no checkpoint lost': not lost,
            'resumed from the newest complete checkpoint':
            trial['resume_succeeded'],
        }
        trial['failed_checks'] = [k for k, ok in checks.items() if not ok]
        self.problems += [f'trial {trial["trial"]}: {k}'
                          for k in trial['failed_checks']]
        self.trials.append(trial)
        self.say(
            f'trial {trial["trial"]} (run {run}, {mode}): killed after '
            f'iteration {trial["killed_after_iteration"]}'
            + (f' during the save of iteration {state["save_iteration"]} '
               f'({state["stage"]})' if state['during_save'] else '') +
            f'; resumed from {trial.get("resumed_from")} '
            f'(iteration {trial.get("resumed_from_iteration")}), lost '
            f'{trial.get("iterations_lost")}'
            + (f'; FAILED {trial["failed_checks"]}'
               if trial['failed_checks'] else ''))
        return trial, resumed

    def kill_runs(self) -> None:
        run = 0
        while len(self.trials) < self.args.trials:
            run += 1
            work_dir = self.root / f'kills_{run}'
            child = self.child(work_dir)
            kills = 0
            while kills < self.args.kills_per_run and \
                    len(self.trials) < self.args.trials:
                trial, child = self.kill_trial(run, work_dir, child)
                if trial is None:
                    break
                kills += 1
            code = child.finish()
            equal = code == 0 and same_final_weights(work_dir,
                                                     self.reference)
            self.runs.append(dict(run=run, kills=kills, exit_status=code,
                                  final_weights_equal=equal))
            if not equal:
                self.problems.append(f'run {run}: final weights differ '
                                     f'(exit {code}; {child.log})')
            self.say(f'run {run}: {kills} kills, exit {code}, final weights '
                     f'{"equal" if equal else "DIFFER"}')

    # -- SIGTERM, disk full, damaged newest ------------------------------

    def sigterm_trial(self) -> Dict:
        work_dir = self.root / 'sigterm'
        child = self.child(work_dir)
        # just after an iteration without a regular checkpoint, so that the
        # signal's own checkpoint is written
        target = INTERVAL * self.rng.randint(1, EPOCHS) + 1
        child.wait_for(lambda e: e[2] == 'iter_done' and int(e[3]) >= target,
                       STARTUP_TIMEOUT + RUN_TIMEOUT)
        child.kill(signal.SIGTERM)
        sent_after = last_iteration(child.events())
        code = child.finish()
        output = child.output()
        stopped = last_iteration(child.events())
        newest = newest_complete(child.journal)
        resumed = self.child(work_dir, resume=True)
        start = resumed.wait_for(lambda e: e[2] == 'train_start',
                                 STARTUP_TIMEOUT)
        final = resumed.finish()
        record = dict(
            sent_after_iteration=sent_after, exit_status=code,
            message='Training stopped by SIGTERM' in output,
            stopped_after_iteration=stopped,
            checkpoint=osp.basename(newest[1]) if newest else None,
            checkpoint_iteration=newest[0] if newest else None,
            resumed_from_iteration=int(start[3]) if start else None,
            iterations_lost=stopped - int(start[3]) if start else None,
            final_weights_equal=final == 0
            and same_final_weights(work_dir, self.reference))
        record['passed'] = (code == 143 and record['message']
                            and record['iterations_lost'] == 0
                            and record['final_weights_equal'])
        self.say(f'SIGTERM trial: {record}')
        return record

    def disk_full_trial(self) -> Dict:
        work_dir = self.root / 'disk_full'
        keep_one = ['default_hooks.checkpoint.max_keep_ckpts=1']
        child = self.child(work_dir, disk_full_at=3, cfg_options=keep_one)
        code = child.finish()
        output = child.output()
        error = [line for line in output.splitlines()
                 if line.startswith('train.py: error: ')]
        previous = work_dir / f'iter_{2 * INTERVAL}.pth'
        from cmd_plugin.utils.checkpoint_files import checkpoint_damage
        record_file = work_dir / 'last_checkpoint'
        record = dict(
            exit_status=code, message=error[-1] if error else None,
            previous_checkpoint=previous.name,
            previous_intact=previous.exists()
            and checkpoint_damage(str(previous)) is None,
            last_checkpoint_names_it=record_file.exists()
            and record_file.read_text() == str(previous),
            checkpoints_left=sorted(p.name for p in work_dir.glob('*.pth')),
            **inspect_work_dir(work_dir))
        resumed = self.child(work_dir, resume=True, cfg_options=keep_one)
        final = resumed.finish()
        record['final_weights_equal'] = final == 0 and same_final_weights(
            work_dir, self.reference)
        message = record['message'] or ''
        record['passed'] = (
            code == 2 and 'No space left on device' in message
            and f'in the work dir {work_dir}' in message
            and 'It needs ' in message and str(previous) in message
            and record['previous_intact']
            and record['last_checkpoint_names_it']
            and record['temporary_files_left'] == 0
            and record['final_weights_equal'])
        self.say(f'disk-full trial: {record}')
        return record

    def damaged_newest_trials(self) -> tuple:
        """A kill, then a malicious newest checkpoint (refused), then a
        truncated newest checkpoint (skipped with a warning)."""
        import torch
        work_dir = self.root / 'damaged'
        child = self.child(work_dir)
        target = 4 * INTERVAL + 1
        child.wait_for(lambda e: e[2] == 'iter_done' and int(e[3]) >= target,
                       STARTUP_TIMEOUT + RUN_TIMEOUT)
        child.kill()
        child.finish()
        from cmd_plugin.utils.checkpoint_files import \
            find_resumable_checkpoint

        marker = self.root / 'payload_ran'
        malicious = work_dir / f'iter_{MAX_ITERS - 1}.pth'
        torch.save(
            dict(meta=dict(epoch=EPOCHS - 1, iter=MAX_ITERS - 1),
                 message_hub=_Payload(marker)), malicious)
        refused = self.child(work_dir, resume=True)
        refused_code = refused.finish()
        refused_output = refused.output()
        malicious_record = dict(
            exit_status=refused_code,
            refused='Refused to load checkpoint' in refused_output
            and str(malicious) in refused_output,
            payload_ran=marker.exists())
        malicious_record['passed'] = (refused_code == 2
                                      and malicious_record['refused']
                                      and not marker.exists())
        self.say(f'malicious-newest trial: {malicious_record}')
        malicious.unlink()

        newest = find_resumable_checkpoint(str(work_dir))
        newest_path = Path(newest.path)
        data = newest_path.read_bytes()
        newest_path.write_bytes(data[:len(data) // 2])
        expected = find_resumable_checkpoint(str(work_dir))
        resumed = self.child(work_dir, resume=True)
        start = resumed.wait_for(lambda e: e[2] == 'train_start',
                                 STARTUP_TIMEOUT)
        final = resumed.finish()
        output = resumed.output()
        truncated_record = dict(
            truncated=newest_path.name, truncated_iteration=newest.iteration,
            expected_resume=osp.basename(expected.path or ''),
            warning=f'skipped the checkpoint {newest_path}: truncated'
            in output,
            resumed_from_iteration=int(start[3]) if start else None,
            final_weights_equal=final == 0
            and same_final_weights(work_dir, self.reference))
        truncated_record['passed'] = (
            truncated_record['warning'] and start is not None
            and int(start[3]) == expected.iteration
            and truncated_record['final_weights_equal'])
        self.say(f'truncated-newest trial: {truncated_record}')
        return malicious_record, truncated_record

    def summary(self) -> Dict:
        lost = [t['iterations_lost'] for t in self.trials
                if t.get('iterations_lost') is not None]
        return dict(
            trials=len(self.trials),
            kills_during_save=sum(t['during_save'] for t in self.trials),
            resumes_succeeded=sum(t['resume_succeeded']
                                  for t in self.trials),
            checkpoints_lost=sum(t['checkpoint_lost'] for t in self.trials),
            partial_checkpoints_visible=sum(
                len(t['partial_checkpoints_visible']) for t in self.trials),
            max_iterations_lost=max(lost) if lost else None,
            checkpoint_interval=INTERVAL,
            runs=len(self.runs),
            final_weights_equal=bool(self.runs) and all(
                r['final_weights_equal'] for r in self.runs))


class _Payload:
    """Unpickling this would create ``marker`` (a stand-in for malware)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(str(self.marker))}', )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='kill -9 training at random moments; check the resume',
        usage='%(prog)s [--trials N] [--json OUT] [options]')
    parser.add_argument('--trials', type=int, default=20,
                        help='kill -9 trials (default 20)')
    parser.add_argument('--json', help='write the records here')
    parser.add_argument('--work-dir', help='where the runs go (default: a '
                        'temporary folder, deleted unless --keep)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the work dir')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the kill moments (default 0)')
    parser.add_argument('--kills-per-run', type=int, default=4,
                        help='kills before a run may finish (default 4)')
    parser.add_argument('--slow-save', type=float, default=0.6,
                        help='seconds each checkpoint write takes at least '
                        '(default 0.6), to widen the window for kills')
    parser.add_argument('--skip-extra', action='store_true',
                        help='only the kill -9 trials')
    # the probe mode of the training processes
    parser.add_argument('--child', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--journal', help=argparse.SUPPRESS)
    parser.add_argument('--disk-full-at-save', type=int,
                        help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else list(argv)
    train_argv = []
    if '--' in argv:
        cut = argv.index('--')
        argv, train_argv = argv[:cut], argv[cut + 1:]
    return parser.parse_args(argv), train_argv


def main(argv=None) -> int:
    args, train_argv = parse_args(argv)
    if args.child:
        child_main(args, train_argv)
        return 0
    sys.path.insert(0, str(ROOT))
    os.environ['PYTHONPATH'] = os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    root = Path(args.work_dir or tempfile.mkdtemp(prefix='fault_test_'))
    root.mkdir(parents=True, exist_ok=True)
    started = time.time()
    test = FaultTest(args, root)
    test.say(f'work dir {root}')
    extra = {}
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        test.run_reference()
        test.kill_runs()
        if not args.skip_extra:
            extra['sigterm'] = test.sigterm_trial()
            extra['disk_full'] = test.disk_full_trial()
            extra['malicious_newest'], extra['truncated_newest'] = \
                test.damaged_newest_trials()
            test.problems += [f'{name} trial failed'
                              for name, record in extra.items()
                              if not record['passed']]
    finally:
        for child in LIVE:  # e.g. after Ctrl-C: no orphaned training
            if child.proc.poll() is None:
                child.kill()
    summary = test.summary()
    result = dict(
        command='python tools/fault_test.py ' + ' '.join(
            sys.argv[1:] if argv is None else argv),
        setup=dict(epochs=EPOCHS, iterations_per_epoch=ITERS_PER_EPOCH,
                   checkpoint_interval=INTERVAL, max_keep_ckpts=2,
                   slow_save_s=args.slow_save, seed=args.seed,
                   num_workers=0, device='cpu'),
        summary=summary, final_weights_equal=summary['final_weights_equal'],
        **extra, runs=test.runs, trials=test.trials,
        problems=test.problems,
        wall_time_s=round(time.time() - started, 1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + '\n')
    test.say(f'summary: {json.dumps(summary)}')
    for name, record in extra.items():
        test.say(f'{name}: {"passed" if record["passed"] else "FAILED"}')
    for problem in test.problems:
        test.say(f'PROBLEM: {problem}')
    if not args.keep and not args.work_dir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not test.problems else 1


if __name__ == '__main__':
    sys.exit(main())
