"""A resumable sequence of command-line steps with progress and an ETA.

A step is one or more commands, each writing one output file; a command
whose output exists and is newer than its inputs is not run again, so
running the same steps after a failure or an interruption resumes where
they stopped.
"""
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, TextIO

HEARTBEAT_S = 30
# the last "Epoch(train) [2][15/31]" of an mmengine log
_PROGRESS = re.compile(
    r'Epoch\((?:train|val|test)\)\s*\[[^\]]*\](?:\[[^\]]*\])?')


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and its log.

    Args:
        message (str): What failed.
        log (Path): The step's log.
    """

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Action:
    """One unit of work of a step: a command and the file it writes.

    Attributes:
        output (Path): The file the command writes; the action is done when
            it exists and is newer than every file of ``inputs``.
        command (Sequence[str]): Its output is appended to the step's
            log.
        inputs (Sequence[Path]): Files the output is derived from.
        cwd (Path, optional): Where the command runs. Defaults to the
            current directory.
    """
    output: Path
    command: Sequence[str]
    inputs: Sequence[Path] = ()
    cwd: Optional[Path] = None

    @property
    def done(self) -> bool:
        """Whether the output exists and is newer than every input."""
        if not self.output.is_file():
            return False
        made = self.output.stat().st_mtime
        return all(p.is_file() and p.stat().st_mtime <= made
                   for p in self.inputs)


@dataclass(frozen=True)
class Step:
    """A named group of actions, reported as one line of progress.

    Attributes:
        title (str): E.g. ``'pretrain dino'``.
        actions (Sequence[Action]): Run in order; finished ones are skipped.
        estimate_s (float): Expected duration on an idle 2-core CPU, for
            the ETA.
    """
    title: str
    actions: Sequence[Action]
    estimate_s: float

    @property
    def done(self) -> bool:
        return all(action.done for action in self.actions)


def format_duration(seconds: float) -> str:
    """``'1:05'`` for 65 s, ``'1:01:05'`` past an hour."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f'{hours}:{minutes:02d}:{secs:02d}'
            if hours else f'{minutes}:{secs:02d}')


def _last_progress(log: Path) -> Optional[str]:
    """The last mmengine progress marker in ``log``, if any."""
    with open(log, 'rb') as f:
        f.seek(max(0, log.stat().st_size - 8192))
        tail = f.read().decode('utf-8', errors='replace')
    found = _PROGRESS.findall(tail)
    return found[-1] if found else None


def _run_command(action: Action, log: Path, out: TextIO) -> int:
    """Run the action's command with its output appended to ``log``; print a
    heartbeat with the latest progress marker every :data:`HEARTBEAT_S`."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    # On a shared CPU, OpenMP threads that spin while waiting for a
    # descheduled sibling make every op several times slower; passive
    # waiting costs little on an idle machine. A user's setting wins.
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    start = time.monotonic()
    with open(log, 'a') as f:
        f.write(f"\n$ {' '.join(action.command)}\n")
        f.flush()
        process = subprocess.Popen(
            list(action.command), cwd=action.cwd, env=env, stdout=f,
            stderr=subprocess.STDOUT)
        while True:
            try:
                return process.wait(timeout=HEARTBEAT_S)
            except subprocess.TimeoutExpired:
                progress = _last_progress(log)
                running = format_duration(time.monotonic() - start)
                print(f'[demo]     ... {running}'
                      + (f', {progress}' if progress else ''),
                      file=out, flush=True)
            except BaseException:
                process.kill()
                process.wait()
                raise


def run_steps(steps: Sequence[Step],
              log_dir: Path,
              out: Optional[TextIO] = None,
              record: Optional[Path] = None) -> Dict[str, float]:
    """Run the steps in order, reusing finished actions.

    Prints one line when a step starts (with the elapsed time and an ETA)
    and one when it ends. The ETA scales the remaining steps' estimates by
    how much slower or faster than estimated this run's steps were.

    Args:
        steps (Sequence[Step]): The steps.
        log_dir (Path): Step ``i`` logs to ``log_dir/<i>_<title>.log``.
        out (TextIO, optional): Where progress goes. Defaults to stdout.
        record (Path, optional): A json of ``{step title: seconds}`` that
            each finished step updates (reused steps keep their earlier
            time). Defaults to None.

    Returns:
        dict[str, float]: Seconds each step ran in this call (0 for a
        reused step).

    Raises:
        DemoError: A command exited non-zero or finished without writing
            its output. The message names the step and its log.
    """
    out = sys.stdout if out is None else out
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    durations: Dict[str, float] = {}
    ran_actual = ran_estimate = 0.0
    for index, step in enumerate(steps, 1):
        name = f'step {index}/{len(steps)} {step.title}'
        slug = re.sub(r'[^A-Za-z0-9]+', '_', step.title).strip('_')
        log = log_dir / f'{index}_{slug}.log'
        if step.done:
            durations[step.title] = 0.0
            print(f'[demo] {name}: reused (its outputs exist, e.g. '
                  f'{step.actions[-1].output})', file=out, flush=True)
            continue
        speed = ran_actual / ran_estimate if ran_estimate else 1.0
        remaining = speed * sum(s.estimate_s for s in steps[index - 1:]
                                if not s.done)
        elapsed = time.monotonic() - start
        print(f'[demo] {name} ... elapsed {format_duration(elapsed)}, '
              f'ETA {format_duration(remaining)} (log: {log})', file=out,
              flush=True)
        step_start = time.monotonic()
        for action in step.actions:
            if action.done:
                continue
            code = _run_command(action, log, out)
            failed = f'exit code {code}' if code else None
            if failed is None and not action.output.is_file():
                failed = f'no output: {action.output} was not written'
            if failed:
                raise DemoError(f'{name} failed ({failed}). Log: {log}', log)
        durations[step.title] = time.monotonic() - step_start
        ran_actual += durations[step.title]
        ran_estimate += step.estimate_s
        if record is not None:
            record.write_text(json.dumps(
                {**read_json(record), step.title: durations[step.title]},
                indent=1))
        print(f'[demo] {name}: done in '
              f'{format_duration(durations[step.title])}', file=out,
              flush=True)
    return durations


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


