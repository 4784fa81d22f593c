"""The experiment lock between real processes, and on filesystems without locks (flock errors injected)."""
import errno
import os
import pytest
import signal
import subprocess
import sys
from os import path as osp

from rnan_basicsr.command import lock as lock_module
from rnan_basicsr.command.lock import RunLock
from rnan_basicsr.utils.errors import InputError

HOLDER = '''
import sys, time
from rnan_basicsr.command.lock import RunLock
lock = RunLock(sys.argv[1], "experiment 'exp'", 'basicsr train -opt first.yml')
lock.acquire()
print('locked', flush=True)
time.sleep(600)
'''


@pytest.fixture
def holder(tmp_path):
    """A second real process that holds ``<tmp>/.exp.lock`` until it is killed."""
    path = tmp_path / '.exp.lock'
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'locked'
        yield proc, path
    finally:
        proc.kill()
        proc.wait(30)


def test_a_second_process_is_refused_while_the_first_holds_the_lock(holder):
    proc, path = holder
    lock = RunLock(str(path), "experiment 'exp'", 'basicsr train -opt second.yml')
    with pytest.raises(InputError) as refused:
        lock.acquire()
    message = str(refused.value)
    assert f"experiment 'exp' is already running: process {proc.pid} on {os.uname().nodename}" in message
    assert 'basicsr train -opt first.yml' in message and 'nothing was written' in message
    assert path.exists()  # the holder's lock is left alone


def test_the_lock_of_a_killed_process_is_taken_over(holder):
    proc, path = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    lock = RunLock(str(path), "experiment 'exp'", 'basicsr train -opt second.yml')
    warning = lock.acquire()
    try:
        assert f'process {proc.pid}' in warning and 'no longer running' in warning
    finally:
        lock.release()
    assert not path.exists()


def _flock_failing_with(code):

    def flock(fd, operation):
        raise OSError(code, os.strerror(code))

    return flock


@pytest.mark.parametrize('code', [errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES])
def test_only_contention_errors_mean_that_the_lock_is_held(code, tmp_path, monkeypatch):
    path = tmp_path / '.exp.lock'
    path.write_text('{"pid": 4242, "host": "node07", "started": 0, "command": "basicsr train -opt a.yml"}')
    monkeypatch.setattr(lock_module.fcntl, 'flock', _flock_failing_with(code))
    with pytest.raises(InputError, match=r"experiment 'exp' is already running: process 4242 on node07"):
        RunLock(str(path), "experiment 'exp'", 'c').acquire()


@pytest.mark.parametrize('code', [errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL])
def test_a_filesystem_without_locks_is_named_with_the_way_out(code, tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module.fcntl, 'flock', _flock_failing_with(code))
    path = tmp_path / 'experiments' / '.exp.lock'
    with pytest.raises(InputError) as refused:
        RunLock(str(path), "experiment 'exp'", 'c').acquire()
    message = str(refused.value)
    assert 'already running' not in message and 'None' not in message, message
    assert f"the filesystem of {str(tmp_path / 'experiments')!r} does not support file locks" in message
    assert f'{os.strerror(code)}, errno {code}' in message
    assert 'RNAN_BASICSR_LOCK=off' in message and 'docs/clusters.md' in message
    assert os.listdir(tmp_path / 'experiments') == []  # not even the lock file


def test_rnan_basicsr_lock_off_runs_without_the_lock_and_other_values_are_refused(monkeypatch):
    monkeypatch.setenv('RNAN_BASICSR_LOCK', 'off')
    assert not lock_module.locking_enabled()
    monkeypatch.setenv('RNAN_BASICSR_LOCK', 'no')
    with pytest.raises(InputError, match=r"RNAN_BASICSR_LOCK='no' must be on or off"):
        lock_module.locking_enabled()


def test_the_way_out_is_documented():
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    with open(osp.join(root, 'docs', 'clusters.md'), encoding='utf-8') as f:
        text = f.read()
    assert 'RNAN_BASICSR_LOCK=off' in text and 'ENOLCK' in text
