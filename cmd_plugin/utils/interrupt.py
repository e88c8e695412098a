"""Turn SIGTERM / SIGINT into a request to stop at the next safe point.

:class:`StopSignals` is a context manager that replaces the handlers of
SIGTERM and SIGINT while training runs: the first signal only records
itself (the training loop finishes the current iteration, writes a
checkpoint and raises :class:`TrainingInterrupted`); a second one of the
same kind restores the previous handler and delivers the signal again, so
that it stops the process at once (Ctrl-C twice: ``KeyboardInterrupt``;
SIGTERM twice: the default action, termination). Without the context
manager nothing changes.
"""
import os
import signal
import sys
import threading
from typing import Dict, Optional, Tuple

#: The signals :class:`StopSignals` catches.
STOP_SIGNALS: Tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int) -> str:
    """``15`` -> ``'SIGTERM'``."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f'signal {signum}'


class TrainingInterrupted(SystemExit):
    """Training stopped on a signal, after writing a checkpoint.

    A ``SystemExit`` with status ``128 + signum`` (143 for SIGTERM, 130 for
    SIGINT, as a shell reports a process a signal ended): uncaught, it ends
    the process with that status and no traceback, so that scripts and
    schedulers see an unfinished run. ``str()`` gives the message.

    Args:
        signum (int): The signal received.
        message (str): What happened and how to continue.
        checkpoint (str, optional): The checkpoint to resume from.
    """

    def __init__(self, signum: int, message: str,
                 checkpoint: Optional[str] = None) -> None:
        super().__init__(128 + signum)
        self.signum, self.message, self.checkpoint = (signum, message,
                                                      checkpoint)

    def __str__(self) -> str:
        return self.message


class StopSignals:
    """Record SIGTERM / SIGINT instead of dying, while inside the block.

    Only the main thread of a process can set signal handlers; elsewhere
    the block changes nothing (:attr:`installed` is False). Processes
    forked inside the block (dataloader workers) inherit the handlers; there
    a signal is ignored, as the main process decides when to stop.

    Example::

        with StopSignals() as stop:
            for step in steps:
                step()
                if stop.received:
                    save(); raise TrainingInterrupted(stop.received, '...')
    """

    def __init__(self, signals: Tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.received: Optional[int] = None
        self.installed = False
        self._previous: Dict[int, object] = {}
        self._pid = os.getpid()

    def __enter__(self) -> 'StopSignals':
        if threading.current_thread() is not threading.main_thread():
            return self
        self._pid = os.getpid()
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        self.installed = True
        return self

    def __exit__(self, *exc_info) -> None:
        self.restore()

    def restore(self) -> None:
        """Put the previous handlers back (idempotent)."""
        for signum, handler in self._previous.items():
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, handler)
        self._previous.clear()
        self.installed = False

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self._pid:  # a forked worker: the parent decides
            return
        if self.received is None:
            self.received = signum
            _notify(f'{signal_name(signum)} received: training stops after '
                    'the current iteration, with a checkpoint (send it '
                    'again to stop at once, without one).\n')
            return
        # a second signal: stop now, as if nothing had been installed
        previous = self._previous.get(signum, signal.SIG_DFL)
        signal.signal(signum, previous)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            os.kill(os.getpid(), signum)


def _notify(text: str) -> None:
    """Write to stderr from a signal handler (no logging locks)."""
    try:
        os.write(sys.stderr.fileno(), text.encode())
    except (OSError, ValueError, AttributeError):
        pass


def ignore_stop_signals() -> None:
    """Ignore SIGTERM and SIGINT in this process (a dataloader worker).

    Slurm and a terminal's Ctrl-C signal every process of the job or
    foreground group, dataloader workers included. A worker that died of it
    would make torch's SIGCHLD handler raise in the main process in the
    middle of an iteration; ignoring the signal lets the main process
    finish the iteration, checkpoint and shut its workers down.
    """
    for signum in STOP_SIGNALS:
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (ValueError, OSError):
            pass


class IgnoreStopSignalsThen:
    """A ``worker_init_fn`` that ignores the stop signals, then calls ``fn``.

    Picklable (for the ``spawn`` start method) when ``fn`` is.

    Args:
        fn (callable, optional): The dataloader's own ``worker_init_fn``.
    """

    def __init__(self, fn=None) -> None:
        self.fn = fn

    def __call__(self, worker_id: int) -> None:
        ignore_stop_signals()
        if self.fn is not None:
            self.fn(worker_id)
