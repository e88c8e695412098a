"""Check argument values, naming the argument in every error.

The plugin's constructors (models, transforms, hooks, datasets, metrics)
and its public functions check their arguments with these helpers. Every
message starts with ``Owner.argument:``, e.g.
``CMDHead.matching: unknown value 'nearest'. Valid choices are [...]``, so
an error raised while the runner builds a component names the option, and
:func:`~cmd_plugin.apis.config_checks.check_config` can replace ``Owner.``
by the config key path (``model.head.matching: ...``). ``owner`` is a class
name, a function name, or a config key path (``model.network``); an empty
``owner`` names the argument alone.
"""
from numbers import Real
from typing import Any, Iterable, Optional, Sequence, Tuple

from .user_errors import UserError


class ConfigError(UserError, ValueError):
    """One or more config options are invalid; the message names each key.

    Raised by :func:`~cmd_plugin.apis.config_checks.check_config`, the
    preflight (:mod:`cmd_plugin.apis.preflight`) and the tools; defined on
    this floor so that the components (e.g. the backbone probe of
    :mod:`cmd_plugin.models.utils.backbone_probe`) can raise it too.
    """


def _where(owner: str, name: str) -> str:
    """``owner.name``, or ``name`` when there is no owner."""
    return f'{owner}.{name}' if owner else name


def check_choice(owner: str, name: str, value: Any,
                 choices: Sequence[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``.

    Args:
        owner (str): Whose argument this is (see the module docstring).
        name (str): The argument.
        value (Any): Its value.
        choices (Sequence): The valid values.
    """
    if value not in choices:
        raise ValueError(f'{_where(owner, name)}: unknown value {value!r}. '
                         f'Valid choices are {list(choices)}.')


def check_int(owner: str,
              name: str,
              value: Any,
              minimum: int,
              maximum: Optional[int] = None) -> None:
    """Raise unless ``value`` is an int (not a bool) in a range.

    Args:
        owner (str): Whose argument this is (see the module docstring).
        name (str): The argument.
        value (Any): Its value.
        minimum (int): The smallest valid value.
        maximum (int, optional): The largest valid value; None for none.
            Defaults to None.
    """
    if isinstance(value, bool) or not isinstance(value, int) \
            or value < minimum or (maximum is not None and value > maximum):
        bounds = (f'>= {minimum}'
                  if maximum is None else f'in [{minimum}, {maximum}]')
        raise ValueError(f'{_where(owner, name)}: must be an int {bounds}, '
                         f'got {value!r}.')


def check_number(owner: str,
                 name: str,
                 value: Any,
                 low: Optional[float] = None,
                 high: Optional[float] = None,
                 low_open: bool = False,
                 high_open: bool = False) -> None:
    """Raise unless ``value`` is a real number (not a bool) in a range.

    Args:
        owner (str): Whose argument this is (see the module docstring).
        name (str): The argument.
        value (Any): Its value.
        low (float, optional): Lower bound; None for none.
        high (float, optional): Upper bound; None for none.
        low_open (bool): Exclude ``low`` itself. Defaults to False.
        high_open (bool): Exclude ``high`` itself. Defaults to False.
    """
    number = isinstance(value, Real) and not isinstance(value, bool)
    ok = number and not (
        low is not None and (value < low or low_open and value == low)) \
        and not (high is not None and
                 (value > high or high_open and value == high))
    if ok:
        return
    if low is not None and high is not None:
        bounds = (f' in {"(" if low_open else "["}{low}, {high}'
                  f'{")" if high_open else "]"}')
    elif low is not None:
        bounds = f' {">" if low_open else ">="} {low}'
    elif high is not None:
        bounds = f' {"<" if high_open else "<="} {high}'
    else:
        bounds = ''
    raise ValueError(f'{_where(owner, name)}: must be a number{bounds}, '
                     f'got {value!r}.')


def check_scale_range(owner: str, name: str,
                      value: Any) -> Tuple[float, float]:
    """Check a crop's area range ``(min, max)`` with ``0 < min <= max <= 1``.

    Args:
        owner (str): Whose argument this is (see the module docstring).
        name (str): The argument.
        value (Any): Its value.

    Returns:
        tuple[float, float]: ``(min, max)`` as floats.
    """
    numbers = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, Real) and not isinstance(v, bool) for v in value)
    if not numbers or not 0 < value[0] <= value[1] <= 1:
        raise ValueError(f'{_where(owner, name)}: must be (min, max) with '
                         f'0 < min <= max <= 1, got {value!r}.')
    return float(value[0]), float(value[1])


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raise unless ``value`` is True or False.

    Args:
        owner (str): Whose argument this is (see the module docstring).
        name (str): The argument.
        value (Any): Its value.
    """
    if not isinstance(value, bool):
        raise ValueError(f'{_where(owner, name)}: must be True or False, got '
                         f'{value!r}.')


def check_known(owner: str, name: str, given: Iterable[str],
                valid: Sequence[str]) -> None:
    """Raise if any of ``given`` is not one of ``valid`` (unknown options).

    Args:
        owner (str): Whose options these are (see the module docstring).
        name (str): What holds them: an argument name for the keys of a
            dict argument (``'local_photometric'``), or ``''`` for the
            keyword arguments of ``owner`` itself.
        given (Iterable[str]): The options set.
        valid (Sequence[str]): The options that exist.
    """
    unknown = [key for key in given if key not in valid]
    if unknown:
        where = _where(owner, f'{name}.{unknown[0]}' if name else unknown[0])
        others = (f' (and {", ".join(map(repr, unknown[1:]))})'
                  if len(unknown) > 1 else '')
        raise ValueError(f'{where}: unknown option{others}. Valid options '
                         f'are {list(valid)}.')
