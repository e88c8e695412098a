"""Run the demo's steps: a writable work dir, progress, a clear exit."""
import sys
import time
from typing import Optional, Sequence, TextIO

from .plan import DemoPlan, build_steps
from .steps import DemoError, Step, format_duration, run_steps


def writable_problem(work_dir) -> Optional[str]:
    """Why the demo cannot write under ``work_dir``, or None."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        probe = work_dir / '.demo_write_test'
        probe.write_text('')
        probe.unlink()
    except OSError as err:
        return (f'cannot write to the work dir {work_dir}: '
                f'{err.strerror or err}. Pass a writable --work-dir.')
    return None


def run_demo(plan: DemoPlan,
             steps: Optional[Sequence[Step]] = None,
             out: Optional[TextIO] = None,
             err: Optional[TextIO] = None) -> int:
    """Run every step of ``plan`` (reusing finished ones) and say how it
    went.

    Args:
        plan (DemoPlan): Where everything goes.
        steps (Sequence[Step], optional): The steps; defaults to
            :func:`build_steps` of ``plan``.
        out (TextIO, optional): Progress. Defaults to stdout.
        err (TextIO, optional): Problems. Defaults to stderr.

    Returns:
        int: The exit status: 0 done, 1 a step failed (named with the tail
        of its log), 2 the work dir is not writable, 130 interrupted (with
        how to resume).
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    problem = writable_problem(plan.work_dir)
    if problem:
        print(f'[demo] {problem}', file=err, flush=True)
        return 2
    steps = build_steps(plan) if steps is None else steps
    start = time.monotonic()
    print(f'[demo] CMD vs DINO on synthetic data: {len(steps)} steps, about '
          f'{format_duration(sum(s.estimate_s for s in steps))} on an idle '
          f'2-core CPU; output in {plan.work_dir}', file=out, flush=True)
    try:
        run_steps(steps, plan.work_dir / 'logs', out=out, record=plan.timings)
    except DemoError as error:
        print(f'[demo] {error}', file=err, flush=True)
        tail = error.log.read_text(errors='replace').splitlines()[-15:]
        print('\n'.join(f'[demo]   | {line}' for line in tail), file=err,
              flush=True)
        return 1
    except KeyboardInterrupt:
        print(f'[demo] interrupted; run the same command again to resume '
              f'(finished steps in {plan.work_dir} are reused, an '
              'interrupted training continues from its last epoch).',
              file=err, flush=True)
        return 130
    print(f'[demo] finished in {format_duration(time.monotonic() - start)}:'
          f' {plan.report}', file=out, flush=True)
    return 0
