"""Damaged data is found before a run and never crashes one: truncated LMDBs and images, files that do not decode in
validation sets, and a file that fails when a DataLoader worker reads it (one line, where to continue)."""
import cv2
import hashlib
import os
import pytest
import re
from conftest import ROOT, TEST_OPTIONS, make_lmdb, run_basicsr, synthetic_image, write_images
from os import path as osp

from rnan_basicsr.cli import main
from rnan_basicsr.data.data_util import image_size, lmdb_keys
from rnan_basicsr.data.denoising_dataset import DenoisingDataset
from rnan_basicsr.utils.errors import EXIT_INPUT_ERROR, InputError

TINY = osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml')


def _digest(folder):
    """sha256 of every file under ``folder`` (relative path -> digest)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                found[osp.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.mark.parametrize('size, expected', [
    (-1, r"data.mdb' is \d+ bytes but the LMDB uses \d+ \(\d+ pages of \d+\): the file is truncated"),
    (100, 'does not start with the two meta pages of an LMDB'),
    (0, 'does not start with the two meta pages of an LMDB'),
])
def test_a_truncated_lmdb_is_refused_before_it_is_mapped(tmp_path, size, expected):
    write_images(tmp_path / 'gt', 3, 20, 20)
    make_lmdb(tmp_path / 'gt', tmp_path / 'gt.lmdb')
    data = tmp_path / 'gt.lmdb' / 'data.mdb'
    assert len(lmdb_keys(str(tmp_path / 'gt.lmdb'), 'x')) == 3
    os.truncate(data, os.path.getsize(data) + size if size < 0 else size)  # -1: one byte short
    before = _digest(tmp_path / 'gt.lmdb')
    with pytest.raises(InputError, match=expected) as info:  # without the check: SIGBUS, the process gone
        lmdb_keys(str(tmp_path / 'gt.lmdb'), 'datasets.train (T): dataroot_gt')
    assert 'Rebuild it with scripts/data_preparation/create_lmdb.py' in str(info.value)
    opt = {'name': 'T', 'type': 'DenoisingDataset', 'phase': 'val', 'sigma': 25,
           'dataroot_gt': str(tmp_path / 'gt.lmdb'), 'io_backend': {'type': 'lmdb'}}
    with pytest.raises(InputError, match=expected):
        DenoisingDataset(opt)
    assert _digest(tmp_path / 'gt.lmdb') == before


def _encoded(ext):
    return cv2.imencode(ext, synthetic_image(24, 20))[1].tobytes()


@pytest.mark.parametrize('ext, damage, expected', [
    ('.png', lambda b: b, None),
    ('.png', lambda b: b[:len(b) // 2], 'it does not end with the IEND chunk every PNG ends with'),
    ('.png', lambda b: b + b'trailing bytes after IEND', None),  # they decode: accepted
    ('.jpg', lambda b: b, None),
    ('.jpg', lambda b: b + b'\0' * 8, None),  # zero padding after the end marker
    ('.jpg', lambda b: b + b'an appended trailer', None),
    ('.jpg', lambda b: b[:len(b) // 2], 'it does not end with the end-of-image marker'),
    ('.bmp', lambda b: b, None),
    ('.bmp', lambda b: b[:len(b) - 10], r'it is \d+ bytes but its header says \d+'),
])
def test_every_image_end_is_checked(tmp_path, ext, damage, expected):
    path = tmp_path / f'img{ext}'
    path.write_bytes(damage(_encoded(ext)))
    if expected is None:
        assert image_size(str(path)) == (24, 20)
    else:
        with pytest.raises(InputError, match=expected) as info:
            image_size(str(path))
        assert str(info.value).startswith(f'image {str(path)!r} is truncated or damaged: ')
        assert str(info.value).endswith('and it does not decode. Copy it again, or remove it.')


def test_an_error_of_a_dataloader_worker_keeps_its_one_line():
    from torch._utils import ExceptionWrapper

    try:
        raise InputError("image 'x.png' (gt of datasets.train (T)) cannot be decoded; replace or remove it.")
    except InputError:
        wrapper = ExceptionWrapper(where='in DataLoader worker process 1')  # what torch sends to the main process
    with pytest.raises(InputError) as info:
        wrapper.reraise()
    assert str(info.value) == "image 'x.png' (gt of datasets.train (T)) cannot be decoded; replace or remove it."


def _damage_pixels(path):
    """Damaged pixel data, the file's end intact: passes the end check, fails to decode."""
    data = bytearray(path.read_bytes())
    data[60:90] = bytes(b ^ 0x55 for b in data[60:90])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('damage', ['truncate', 'pixels'])
def test_a_damaged_validation_image_is_refused_before_the_run(tiny_paired_data, monkeypatch, capsys, damage):
    monkeypatch.chdir(tiny_paired_data)
    path = tiny_paired_data / 'datasets' / 'tiny' / 'val' / 'lq' / 'img000.png'
    if damage == 'truncate':
        path.write_bytes(path.read_bytes()[:100])
    else:
        _damage_pixels(path)
    assert main(['train', '-opt', TINY]) == EXIT_INPUT_ERROR
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "datasets/tiny/val/lq/img000.png'" in lines[0], lines
    assert ('is truncated or damaged' if damage == 'truncate' else 'cannot be decoded') in lines[0]
    assert sorted(os.listdir(tiny_paired_data)) == ['datasets']  # no experiments/, no tb_logger/


@pytest.mark.slow
def test_an_image_failing_in_a_dataloader_worker_ends_the_run_in_one_line(tmp_path):
    """A shipped option file (LMDB, DataLoader workers) shrunk with --force_yml; an image of the LMDB damaged inside
    (the LMDB's size is intact, so the pre-flight passes): one line, exit 2, the states kept; after the LMDB is
    fixed --auto_resume continues."""
    write_images(tmp_path / 'sub', 4, 32, 32, channels=1)
    lmdb_path = tmp_path / 'datasets' / 'DIV2K' / 'DIV2K_train_HR_sub.lmdb'
    make_lmdb(tmp_path / 'sub', lmdb_path)
    for kind in ('HQ', 'N10'):
        write_images(tmp_path / 'datasets' / 'BSD68_gray' / kind, 1, 32, 32, channels=1, seed=100)
    force = ['network_g:num_feat=8', 'network_g:num_group=3', 'val:val_freq=2', 'logger:save_checkpoint_freq=2',
             'datasets:train:batch_size_per_gpu=2', 'datasets:train:gt_size=16', 'datasets:train:num_worker_per_gpu=2']
    train = ['train', '-opt', osp.join(ROOT, 'options', 'train_RNAN_DN_Gray_sigma10.yml'), '--auto_resume']
    first = run_basicsr(train + ['--force_yml', *force, 'train:total_iter=2'], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = lmdb_path / 'data.mdb'
    good = data.read_bytes()
    damaged = bytearray(good)
    start = good.index(b'\x89PNG', good.index(b'\x89PNG') + 1) + 60  # inside the second image's pixel data
    damaged[start:start + 30] = bytes(b ^ 0x55 for b in damaged[start:start + 30])
    data.write_bytes(bytes(damaged))
    result = run_basicsr(train + ['--force_yml', *force, 'train:total_iter=4'], cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == EXIT_INPUT_ERROR and 'Traceback' not in result.stderr, result.stderr
    assert 'Caught InputError' not in result.stderr
    assert re.match(r"basicsr: error: image 'img00\d' in 'datasets/DIV2K/DIV2K_train_HR_sub.lmdb' \(gt of "
                    r'datasets.train \(DIV2K\)\) cannot be decoded', lines[-1]), lines
    assert 'Training stopped at iteration' in lines[-1] and 'training_states/2.state' in lines[-1], lines
    assert lines[-1].endswith('--auto_resume --force_yml ' + ' '.join(force) + ' train:total_iter=4'), lines
    data.write_bytes(good)
    resumed = run_basicsr(train + ['--force_yml', *force, 'train:total_iter=4'], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    experiment = tmp_path / 'experiments' / 'RNAN_DN_Gray_sigma10'
    assert sorted(os.listdir(experiment / 'training_states')) == ['2.state', '4.state']
    assert sorted(os.listdir(tmp_path / 'experiments')) == ['RNAN_DN_Gray_sigma10']  # nothing archived
