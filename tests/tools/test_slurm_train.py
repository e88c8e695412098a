"""tools/slurm_train.sh asks slurm for a SIGTERM before the time limit and
forwards the signals it receives to srun (a fake srun on PATH here)."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tool_scripts import TOOLS

FAKE_SRUN = """#!/usr/bin/env bash
# Records its arguments; exits 143 on SIGTERM like train.py does.
echo "$@" > "$FAKE_DIR/args"
trap 'echo TERM > "$FAKE_DIR/signal"; exit 143' TERM
touch "$FAKE_DIR/started"
for i in $(seq 600); do sleep 0.1; done
exit 0
"""


@pytest.fixture
def fake_srun(tmp_path) -> dict:
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    return dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}',
                FAKE_DIR=str(tmp_path))


def start(env: dict, **extra) -> subprocess.Popen:
    return subprocess.Popen(
        ['bash', str(TOOLS / 'slurm_train.sh'), 'gpu', 'cmd', 'cfg.py',
         '--resume-if-any'], env=dict(env, **extra))


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f'{path} never appeared'
        time.sleep(0.05)


@pytest.mark.parametrize('received', [signal.SIGTERM, signal.SIGINT])
def test_signal_reaches_the_tasks(fake_srun, tmp_path, received):
    script = start(fake_srun)
    wait_for(tmp_path / 'started')
    args = (tmp_path / 'args').read_text().split()
    assert '--signal=TERM@120' in args
    assert args[-4:] == ['cfg.py', '--launcher', 'slurm', '--resume-if-any']
    script.send_signal(received)
    assert script.wait(timeout=60) == 143  # srun's (the tasks') status
    assert (tmp_path / 'signal').read_text().strip() == 'TERM'


def test_signal_time_is_configurable(fake_srun, tmp_path):
    for value, expected in (('TERM@300', '--signal=TERM@300'), ('', None)):
        (tmp_path / 'started').unlink(missing_ok=True)
        script = start(fake_srun, SIGNAL=value)
        wait_for(tmp_path / 'started')
        args = (tmp_path / 'args').read_text().split()
        signal_args = [a for a in args if a.startswith('--signal')]
        assert signal_args == ([expected] if expected else [])
        script.send_signal(signal.SIGTERM)
        assert script.wait(timeout=60) == 143
