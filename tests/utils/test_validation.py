"""The argument checks every component uses name the owner and argument."""
import pytest

from cmd_plugin.utils.validation import (check_bool, check_choice, check_int,
                                         check_number)


@pytest.mark.parametrize('check, message', [
    (lambda: check_int('A', 'n', True, 1), 'A.n: must be an int >= 1'),
    (lambda: check_int('A', 'n', 0, 1), 'got 0'),
    (lambda: check_int('A', 'n', 4, 1, 3),
     'A.n: must be an int in \\[1, 3\\]'),
    (lambda: check_number('A', 'p', '0.5', 0, 1), "in \\[0, 1\\], got '0.5'"),
    (lambda: check_number('A', 't', 0.0, low=0, low_open=True), '> 0'),
    (lambda: check_number('A', 'm', 1.0, 0, 1, high_open=True),
     'in \\[0, 1\\)'),
    (lambda: check_bool('A', 'b', 1), 'A.b: must be True or False, got 1'),
    (lambda: check_choice('A', 'c', 'x', ('y', 'z')),
     "A.c: unknown value 'x'. Valid choices are \\['y', 'z'\\]"),
    (lambda: check_choice('', 'c', 'x', ('y', )), "^c: unknown value 'x'"),
])
def test_helpers_name_the_argument(check, message):
    with pytest.raises(ValueError, match=message):
        check()


def test_valid_values_pass():
    check_int('A', 'n', 3, 1, 3)
    check_number('A', 'p', 1, 0, 1)
    check_bool('A', 'b', False)
    check_choice('A', 'c', 'y', ('y', 'z'))
