"""User errors: one clear message and exit status 2, not a traceback.

A *user error* is a mistake the user can fix from the command line or the
config: a missing file, a misspelt key, a flag that does not apply. The
tools raise :class:`UserError` (or a subclass, e.g.
:class:`~cmd_plugin.utils.validation.ConfigError`) for it and run their
work inside :func:`exit_on_user_error`, which prints the message on stderr
and exits with status 2 (argparse's status for a bad command line).
Every other exception is an internal error and keeps its traceback. With
``--debug`` (:func:`add_debug_argument`) or ``CMD_DEBUG=1`` in the
environment, user errors show their traceback too.
"""
import argparse
import os
import sys
from contextlib import contextmanager
from typing import Iterator, Tuple, Type

#: Environment variable that shows the traceback of user errors.
DEBUG_ENV = 'CMD_DEBUG'
#: Exit status of a user error (argparse uses it for usage errors).
EXIT_STATUS = 2


class UserError(Exception):
    """A mistake the user can fix; its message says what and where."""


class UserExit(SystemExit):
    """Exit with :data:`EXIT_STATUS` after a user error was printed.

    ``str()`` gives the printed message, so that a caller (or a test) that
    catches the ``SystemExit`` can still read it.

    Args:
        message (str): The message printed on stderr.
    """

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_STATUS)
        self.message = message

    def __str__(self) -> str:
        return self.message


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug``: show the traceback of user errors too."""
    parser.add_argument(
        '--debug', action='store_true',
        help='on a user error (missing file, bad key, ...) show the Python '
        f'traceback, not just the message (or set {DEBUG_ENV}=1)')


def debug_requested(debug: bool = False) -> bool:
    """Whether ``debug`` or the environment asks for tracebacks."""
    return debug or os.environ.get(DEBUG_ENV, '').strip() not in ('', '0')


@contextmanager
def exit_on_user_error(
        prog: str,
        debug: bool = False,
        errors: Tuple[Type[BaseException], ...] = (UserError, )
) -> Iterator[None]:
    """Turn the user errors raised inside the block into an exit.

    Args:
        prog (str): The tool's name, the prefix of the message
            (``train.py: error: ...``, as argparse writes).
        debug (bool): Re-raise instead (the traceback is shown). Also on
            when ``CMD_DEBUG=1``. Defaults to False.
        errors (tuple[type]): The exception types that are user errors.
            Defaults to ``(UserError,)``.

    Raises:
        UserExit: After printing ``<prog>: error: <message>`` on stderr.
    """
    try:
        yield
    except errors as error:
        if debug_requested(debug):
            raise
        message = f'{prog}: error: {error}'
        print(message, file=sys.stderr, flush=True)
        raise UserExit(message) from None
