"""rnan_basicsr.utils.staging: a run killed at any step of building or swapping in an output folder leaves a complete
copy, and the next run puts it back; the siblings of live writers and of other hosts are never touched."""
import os
import pytest
import shutil

from rnan_basicsr.utils import staging
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.staging import parse_staged_name, recover_staged_folder, staged_folder, staged_name

FILES = ('a.txt', 'b.txt')


def _write_copy(folder, content):
    os.makedirs(folder)
    for name in FILES:
        with open(os.path.join(folder, name), 'w') as f:
            f.write(content)


def _copy_of(folder):
    """'old' / 'new' if ``folder`` is a complete copy of that content, else None."""
    contents = set()
    for name in FILES:
        try:
            with open(os.path.join(folder, name)) as f:
                contents.add(f.read())
        except OSError:
            return None
    return contents.pop() if len(contents) == 1 else None


def _killed_run(path, kill_at, suffix=''):
    """Run staged_folder(overwrite=True) writing the 'new' copy in a forked child that dies (os._exit, no clean-up,
    as under SIGKILL) at its ``kill_at``-th rename or deletion; returns the child's pid (no longer running)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = [0]

            def dying(original):
                def call(*args, **kwargs):
                    calls[0] += 1
                    if calls[0] == kill_at:
                        os._exit(9)
                    return original(*args, **kwargs)

                return call

            os.rename, os.replace, shutil.rmtree = dying(os.rename), dying(os.replace), dying(shutil.rmtree)
            with staged_folder(path, overwrite=True, suffix=suffix) as tmp:
                _write_copy(tmp, 'new')
            os._exit(0)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 9)
    return pid


@pytest.mark.parametrize('existing', [True, False])
@pytest.mark.parametrize('kill_at', [1, 2, 3, 4, 5])
def test_a_kill_at_any_step_leaves_a_complete_copy_that_the_next_run_recovers(tmp_path, kill_at, existing, capsys):
    path = str(tmp_path / 'train.lmdb')
    if existing:
        _write_copy(path, 'old')
    _killed_run(path, kill_at, suffix='.lmdb')
    # complete copies that no clean-up may delete: the output, and siblings past the 'tmp' stage
    kept = [name for name in os.listdir(tmp_path) if (parse_staged_name(path, name, '.lmdb') or ('',))[0] != 'tmp']
    complete = {_copy_of(str(tmp_path / name)) for name in kept} - {None}
    assert complete or not existing  # never a moment without a complete copy of what was there
    finished_new = 'new' in complete

    recover_staged_folder(path, suffix='.lmdb')
    expected = 'new' if finished_new else 'old' if existing else None
    assert os.listdir(tmp_path) == (['train.lmdb'] if expected else [])
    assert _copy_of(path) == expected
    # and the next run replaces it normally
    with staged_folder(path, overwrite=True, suffix='.lmdb') as tmp:
        assert tmp.endswith('.lmdb')
        _write_copy(tmp, 'next')
    assert os.listdir(tmp_path) == ['train.lmdb'] and _copy_of(path) == 'next'


def test_the_kill_between_the_two_renames_is_recovered_and_said(tmp_path, capsys):
    """The case of the issue: the old copy moved aside, the new one not yet in place: no output folder at all."""
    path = str(tmp_path / 'sub')
    _write_copy(path, 'old')
    _killed_run(path, kill_at=3)  # rename 1: tmp -> new; 2: sub -> old; 3: new -> sub
    assert not os.path.exists(path)
    capsys.readouterr()
    with pytest.raises(InputError, match='already exists; pass --overwrite'):
        with staged_folder(path, overwrite=False):
            pass
    out = capsys.readouterr().out
    assert 'completed by an interrupted run' in out and f'to {path}.' in out
    assert 'the copy an interrupted run' in out
    assert _copy_of(path) == 'new' and os.listdir(tmp_path) == ['sub']


def test_siblings_of_live_processes_and_other_hosts_are_left_alone(tmp_path, capsys):
    path = str(tmp_path / 'out')
    other_host = staged_name(path, 'tmp', pid=os.getpid() + 1, host='node-b.cluster')
    live = staged_name(path, 'tmp', pid=os.getppid())  # pytest's parent: running
    for folder in (other_host, live):
        _write_copy(folder, 'new')
    with staged_folder(path) as tmp:
        _write_copy(tmp, 'mine')
    assert _copy_of(other_host) == 'new' and _copy_of(live) == 'new' and _copy_of(path) == 'mine'
    assert f'Left {other_host} alone: it belongs to process {os.getpid() + 1} on host node-b.cluster' in (
        capsys.readouterr().out)


def test_names_carry_the_host_and_are_parsed_where_they_are_made(tmp_path, monkeypatch):
    monkeypatch.setattr(staging.socket, 'gethostname', lambda: 'gpu-07.example.org')
    path = str(tmp_path / 'x.lmdb')
    name = os.path.basename(staged_name(path, 'new', '.lmdb', pid=123))
    assert name == '.x.lmdb.new.gpu-07.example.org.123.lmdb'
    assert parse_staged_name(path, name, '.lmdb') == ('new', 'gpu-07.example.org', 123)
    assert parse_staged_name(path, '.x.lmdb.old42', '.lmdb') is None  # no release wrote host-less names
    assert parse_staged_name(path, '.y.lmdb.new.h.1.lmdb', '.lmdb') is None
