"""``make demo``: CMD vs DINO on generated data, end to end
(``tools/demo.py`` is its command line; see ``docs/demo.md``)."""
from .plan import (LABELS, METHODS, TRAINED, DemoPlan, build_steps,
                   save_initial_checkpoint)
from .report import learned, verdict, write_report
from .run import run_demo, writable_problem
from .steps import (Action, DemoError, Step, format_duration, read_json,
                    run_steps)

__all__ = [
    'Action', 'DemoError', 'DemoPlan', 'LABELS', 'METHODS', 'Step',
    'TRAINED', 'build_steps', 'format_duration', 'learned', 'read_json',
    'run_demo', 'run_steps', 'save_initial_checkpoint', 'verdict',
    'writable_problem', 'write_report'
]
