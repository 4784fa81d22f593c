"""rnan_basicsr/tools/create_lmdb.py (scripts/data_preparation/create_lmdb.py): keys, meta_info, map size, collisions,
overwrite, no half-written LMDB, no temporaries left."""
import cv2
import lmdb
import numpy as np
import os
import pytest
import subprocess
import sys
from conftest import write_images
from os import path as osp

from rnan_basicsr.data.data_util import lmdb_keys
from rnan_basicsr.tools import create_lmdb
from rnan_basicsr.utils.staging import staged_name


def run(*argv):
    return create_lmdb.main([str(a) for a in argv])


def read_lmdb(path):
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        items = {key.decode(): bytes(value) for key, value in txn.cursor()}
    env.close()
    return items


def test_keys_meta_info_and_contents(tmp_path, capsys):
    paths = write_images(tmp_path / 'imgs', 2, 20, 30)
    write_images(tmp_path / 'imgs' / 'sub', 1, 16, 16, channels=1, prefix='gray')
    (tmp_path / 'imgs' / '.DS_Store').write_text('hidden')
    assert run('--input', tmp_path / 'imgs', '--output', tmp_path / 'out.lmdb', '--n_thread', 2) == 0
    assert 'out.lmdb: 3 images' in capsys.readouterr().out
    meta = (tmp_path / 'out.lmdb' / 'meta_info.txt').read_text().splitlines()
    assert meta == ['img000.png (20,30,3) 1', 'img001.png (20,30,3) 1', 'sub/gray000.png (16,16,1) 1']
    items = read_lmdb(tmp_path / 'out.lmdb')
    assert sorted(items) == ['img000', 'img001', 'sub/gray000']
    decoded = cv2.imdecode(np.frombuffer(items['img001'], np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, cv2.imread(paths[1], cv2.IMREAD_UNCHANGED))
    # BasicSR's own reader sees the same keys
    from basicsr.data.data_util import paths_from_lmdb
    assert sorted(paths_from_lmdb(str(tmp_path / 'out.lmdb'))) == sorted(items)
    assert sorted(lmdb_keys(str(tmp_path / 'out.lmdb'), 'test')) == sorted(items)
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]  # no temporary folder left


def test_map_size_fits_incompressible_images_and_is_not_a_guess(tmp_path, capsys):
    os.makedirs(tmp_path / 'noise')
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / 'noise' / 'a_small.png'), np.zeros((4, 4, 3), np.uint8))  # BasicSR sizes from this
    for i in range(6):
        cv2.imwrite(str(tmp_path / 'noise' / f'b{i}.png'), rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))
    bound = create_lmdb.map_size_for([(str(tmp_path / 'noise' / f'b{i}.png'), f'b{i}') for i in range(6)])
    assert bound > 6 * 200 * 200 * 3
    assert run('--input', tmp_path / 'noise', '--output', tmp_path / 'noise.lmdb', '--compress_level', 0) == 0
    assert 'retrying' not in capsys.readouterr().out
    assert len(read_lmdb(tmp_path / 'noise.lmdb')) == 7


@pytest.mark.parametrize('names, expected', [
    (['a.png', 'a.jpg'], "'a.jpg' and 'a.png' have the same name 'a'"),
    (['img.v2.png'], "its key 'img.v2' contains a \".\""),
    (['bild_ä.png'], 'LMDB keys must be ASCII'),
])
def test_bad_keys(tmp_path, capsys, names, expected):
    os.makedirs(tmp_path / 'imgs')
    for name in names:
        cv2.imwrite(str(tmp_path / 'imgs' / name), np.zeros((8, 8, 3), np.uint8))
    assert run('--input', tmp_path / 'imgs', '--output', tmp_path / 'out.lmdb') == 2
    err = capsys.readouterr().err
    assert err.startswith('create_lmdb.py: error: ') and expected in err
    assert not osp.exists(tmp_path / 'out.lmdb')


def test_refuses_to_overwrite_and_replaces_only_when_complete(tmp_path, capsys):
    write_images(tmp_path / 'first', 2, 16, 16)
    write_images(tmp_path / 'second', 3, 16, 16, seed=5)
    out = tmp_path / 'out.lmdb'
    assert run('--input', tmp_path / 'first', '--output', out) == 0
    assert run('--input', tmp_path / 'second', '--output', out) == 2
    assert "already exists; pass --overwrite to replace it" in capsys.readouterr().err
    before = read_lmdb(out)

    # a corrupt image in the middle: the build fails, the old LMDB stays as it was, no temporary folder remains
    (tmp_path / 'second' / 'img001.png').write_bytes((tmp_path / 'second' / 'img001.png').read_bytes()[:80])
    assert run('--input', tmp_path / 'second', '--output', out, '--overwrite') == 2
    assert "img001.png' is truncated or damaged" in capsys.readouterr().err
    assert read_lmdb(out) == before
    assert sorted(os.listdir(tmp_path)) == ['first', 'out.lmdb', 'second']

    os.remove(tmp_path / 'second' / 'img001.png')
    assert run('--input', tmp_path / 'second', '--output', out, '--overwrite') == 0
    assert sorted(read_lmdb(out)) == ['img000', 'img002']
    assert (out / 'meta_info.txt').read_text().count('\n') == 2


def test_several_folders_and_argument_errors(tmp_path, capsys):
    write_images(tmp_path / 'hr', 2, 16, 16)
    write_images(tmp_path / 'lr', 2, 8, 8)
    assert run('--input', tmp_path / 'hr', tmp_path / 'lr', '--output', tmp_path / 'hr.lmdb', tmp_path / 'lr.lmdb') == 0
    assert lmdb_keys(str(tmp_path / 'lr.lmdb'), 'lr') == {'img000': (8, 8), 'img001': (8, 8)}
    assert run('--input', tmp_path / 'hr', '--output', tmp_path / 'a.lmdb', tmp_path / 'b.lmdb') == 2
    assert 'give one --output per --input' in capsys.readouterr().err
    assert run('--input', tmp_path / 'hr', '--output', tmp_path / 'plain') == 2
    assert 'must end with .lmdb' in capsys.readouterr().err
    os.makedirs(tmp_path / 'empty')
    assert run('--input', tmp_path / 'empty', '--output', tmp_path / 'e.lmdb') == 2
    assert 'contains no images' in capsys.readouterr().err


def test_temporaries_of_a_killed_run_are_removed_and_reported(tmp_path, capsys):
    write_images(tmp_path / 'hr', 2, 8, 8)
    dead_pid = int(subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                                  text=True).stdout)
    temporary = staged_name(str(tmp_path / 'x.lmdb'), 'tmp', '.lmdb', pid=dead_pid)
    os.mkdir(temporary)
    with open(os.path.join(temporary, 'data.mdb'), 'wb') as f:
        f.write(b'half')
    assert create_lmdb.main(['--input', str(tmp_path / 'hr'), '--output', str(tmp_path / 'x.lmdb')]) == 0
    assert f'left by an interrupted run (process {dead_pid}, no longer running)' in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ['hr', 'x.lmdb']
