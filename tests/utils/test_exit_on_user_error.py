"""cmd_plugin.utils.user_errors: user errors exit 2, others keep tracebacks."""
import pytest

from cmd_plugin.utils.user_errors import (UserError, UserExit,
                                          exit_on_user_error)


def test_user_error_prints_one_line_and_exits_2(capsys, monkeypatch):
    monkeypatch.delenv('CMD_DEBUG', raising=False)
    with pytest.raises(UserExit) as info:
        with exit_on_user_error('tool.py'):
            raise UserError('--flag: wrong')
    assert info.value.code == 2
    assert str(info.value) == 'tool.py: error: --flag: wrong'
    assert capsys.readouterr().err == 'tool.py: error: --flag: wrong\n'


def test_listed_types_are_user_errors_too(capsys, monkeypatch):
    monkeypatch.delenv('CMD_DEBUG', raising=False)
    with pytest.raises(UserExit):
        with exit_on_user_error('tool.py', errors=(UserError, ValueError)):
            raise ValueError('bad value')
    assert capsys.readouterr().err == 'tool.py: error: bad value\n'


def test_internal_errors_pass_through(capsys):
    with pytest.raises(RuntimeError, match='a bug'):
        with exit_on_user_error('tool.py'):
            raise RuntimeError('a bug')
    assert capsys.readouterr().err == ''


@pytest.mark.parametrize('debug, env', [(True, None), (False, '1')])
def test_debug_reraises_user_errors(debug, env, capsys, monkeypatch):
    if env is None:
        monkeypatch.delenv('CMD_DEBUG', raising=False)
    else:
        monkeypatch.setenv('CMD_DEBUG', env)
    with pytest.raises(UserError, match='--flag: wrong'):
        with exit_on_user_error('tool.py', debug=debug):
            raise UserError('--flag: wrong')
    assert capsys.readouterr().err == ''
