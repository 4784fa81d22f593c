"""The data tools fail in one line when the system refuses a write (a file-size limit, a full disk, a folder that
cannot be made), with the system's reason and the path, and leave nothing partial; Ctrl-C and SIGTERM are one line."""
import contextlib
import cv2
import hashlib
import numpy as np
import os
import pytest
import signal
import sys
import time
from os import path as osp

from rnan_basicsr.tools import create_lmdb, extract_subimages, generate_lq
from rnan_basicsr.utils.errors import EXIT_INPUT_ERROR, EXIT_RUN_ERROR, InputError, RunError
from rnan_basicsr.utils.script_util import run_main, staged_folder, write_file

resource = pytest.importorskip('resource')


@contextlib.contextmanager
def file_size_limit(nbytes):
    """``ulimit -f`` for this process while the block runs (Python ignores SIGXFSZ: a write past it raises EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _digest(folder):
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            with open(osp.join(root, name), 'rb') as f:
                found[osp.relpath(osp.join(root, name), folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture
def noise(tmp_path):
    """4 random 128x128 colour PNGs (about 49 KB each: they do not compress)."""
    os.makedirs(tmp_path / 'in')
    for i in range(4):
        img = np.random.default_rng(i).integers(0, 256, (128, 128, 3), np.uint8)
        cv2.imwrite(str(tmp_path / 'in' / f'{i}.png'), img)
    return tmp_path / 'in'


@pytest.mark.parametrize('tool, argv, expected', [
    (create_lmdb, ['--output', 'out.lmdb', '--n_thread', '1'], 'file-size limit 30000 bytes (ulimit -f)'),
    (extract_subimages, ['--output', 'out', '--crop_size', '128', '--step', '64', '--n_thread', '1'], 'File too large'),
    (generate_lq, ['--output', 'out', '--task', 'denoise', '--sigma', '10', '--n_thread', '1'], 'File too large'),
])
def test_a_file_size_limit_is_one_line_and_keeps_the_old_output(tmp_path, noise, capsys, monkeypatch, tool, argv,
                                                                expected):
    monkeypatch.chdir(tmp_path)
    small = tmp_path / 'small'
    os.makedirs(small)
    cv2.imwrite(str(small / '0.png'), np.zeros((128, 128, 3), np.uint8))  # compresses to almost nothing
    assert tool.main(['--input', str(small), *argv]) == 0
    before = _digest(tmp_path / argv[1])
    capsys.readouterr()
    with file_size_limit(30000):
        status = tool.main(['--input', str(noise), *argv, '--overwrite'])
    err = [line for line in capsys.readouterr().err.replace('\r', '\n').splitlines() if ': error: ' in line]
    assert status == EXIT_RUN_ERROR and len(err) == 1 and expected in err[0], err
    assert sorted(os.listdir(tmp_path)) == sorted(['in', 'small', argv[1]])  # no temporary folder left
    assert _digest(tmp_path / argv[1]) == before


def test_a_full_disk_names_the_file_and_the_reason(tmp_path):
    if not osp.exists('/dev/full'):
        pytest.skip('no /dev/full here')
    with pytest.raises(RunError, match=r"cannot write '/dev/full': No space left on device"):
        write_file('/dev/full', b'x' * 8192)


def test_an_output_folder_that_cannot_be_made_is_refused_first(tmp_path):
    (tmp_path / 'file').write_text('not a folder')
    with pytest.raises(InputError, match=r"cannot create the folder '.*file/sub' of '.*file/sub/out': Not a directory"):
        with staged_folder(str(tmp_path / 'file' / 'sub' / 'out')):
            pass
    with pytest.raises(InputError, match="cannot write in '.*missing': No such file or directory"):
        from rnan_basicsr.utils.atomic import check_writable
        check_writable(str(tmp_path / 'missing'), '--output')


def _interrupted(signum):
    def func(args):
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises first
        raise AssertionError('not interrupted')
    return func


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX signals')
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_are_one_line(capsys, signum):
    before = signal.getsignal(signal.SIGTERM)
    assert run_main('tool.py', _interrupted(signum), None) == 128 + signum
    err = capsys.readouterr().err
    assert err == (f'tool.py: interrupted by {signal.Signals(signum).name}; nothing half-written is left (unfinished '
                   'outputs are removed).\n')
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_os_error_naming_a_file_is_one_line(capsys):
    def func(args):
        raise PermissionError(13, 'Permission denied', '/some/file')
    assert run_main('tool.py', func, None) == EXIT_RUN_ERROR
    assert capsys.readouterr().err == "tool.py: error: '/some/file': Permission denied\n"
    assert run_main('tool.py', lambda args: (_ for _ in ()).throw(InputError('bad')), None) == EXIT_INPUT_ERROR
