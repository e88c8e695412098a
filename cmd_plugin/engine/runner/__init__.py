from .atomic_backend import ATOMIC_BACKEND_ARGS, AtomicLocalBackend
from .cmd_runner import CMDRunner, QuietLogFilter, build_runner
from .cpu_distributed import setup_cpu_distributed
from .loops import ResumableEpochBasedTrainLoop

__all__ = [
    'ATOMIC_BACKEND_ARGS', 'AtomicLocalBackend', 'CMDRunner',
    'QuietLogFilter', 'ResumableEpochBasedTrainLoop', 'build_runner',
    'setup_cpu_distributed'
]
