"""rnan_basicsr/tools/extract_subimages.py (scripts/data_preparation/extract_subimages.py): windows, HR/LR pairs at
matching places, skipping, errors, no temporaries left."""
import cv2
import numpy as np
import os
import pytest
import subprocess
import sys
from conftest import synthetic_image, write_images
from os import path as osp

from rnan_basicsr.tools import extract_subimages
from rnan_basicsr.utils.staging import staged_name


def run(*argv):
    return extract_subimages.main([str(a) for a in argv])


def read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize('length, crop, step, thresh, expected', [
    (100, 48, 24, 0, [0, 24, 48, 52]),  # 52: one more window flush with the edge
    (96, 48, 24, 0, [0, 24, 48]),  # the windows reach the edge exactly
    (100, 48, 24, 4, [0, 24, 48]),  # 4 pixels left over: not more than the threshold
    (40, 48, 24, 0, []),  # smaller than a window
])
def test_window_starts_follow_basicsr(length, crop, step, thresh, expected):
    assert extract_subimages.crop_starts(length, crop, step, thresh) == expected


def test_hr_sub_images(tmp_path, capsys):
    big = write_images(tmp_path / 'hr', 1, 100, 90)[0]
    write_images(tmp_path / 'hr', 1, 30, 30, prefix='tiny')
    assert run('--input', tmp_path / 'hr', '--output', tmp_path / 'sub', '--crop_size', 48, '--step', 24,
               '--n_thread', 2) == 0
    out = capsys.readouterr().out
    assert 'Wrote 12 sub-images of 1 images' in out
    assert 'Skipped 1 images smaller than --crop_size 48: tiny000.png' in out
    assert sorted(os.listdir(tmp_path / 'sub')) == [f'img000_s{i:03d}.png' for i in range(1, 13)]
    img = read(big)
    # rows start at 0, 24, 48, 52 and columns at 0, 24, 42; index runs along rows first
    assert np.array_equal(read(tmp_path / 'sub' / 'img000_s003.png'), img[0:48, 42:90])
    assert np.array_equal(read(tmp_path / 'sub' / 'img000_s012.png'), img[52:100, 42:90])


def test_hr_and_lr_sub_images_are_cut_at_the_same_places(tmp_path):
    os.makedirs(tmp_path / 'hr')
    os.makedirs(tmp_path / 'lr')
    hr = synthetic_image(96, 80, seed=1)
    lr = cv2.resize(hr, (40, 48), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / 'hr' / '0001.png'), hr)
    cv2.imwrite(str(tmp_path / 'lr' / '0001x2.png'), lr)  # DIV2K's LR naming
    assert run('--input', tmp_path / 'hr', '--output', tmp_path / 'hr_sub', '--crop_size', 48, '--step', 32,
               '--scale', 2, '--input_lr', tmp_path / 'lr', '--output_lr', tmp_path / 'lr_sub') == 0
    names = sorted(os.listdir(tmp_path / 'hr_sub'))
    assert names == sorted(os.listdir(tmp_path / 'lr_sub')) == [f'0001_s{i:03d}.png' for i in range(1, 7)]
    # LR grid: rows 0, 16, 24 (flush); columns 0, 16 (flush at 40 - 24 = 16)
    assert np.array_equal(read(tmp_path / 'lr_sub' / '0001_s006.png'), lr[24:48, 16:40])
    assert np.array_equal(read(tmp_path / 'hr_sub' / '0001_s006.png'), hr[48:96, 32:80])


def test_errors(tmp_path, capsys):
    write_images(tmp_path / 'hr', 2, 64, 64)
    write_images(tmp_path / 'lr', 1, 32, 32)
    common = ['--input', tmp_path / 'hr', '--crop_size', 32, '--step', 16]
    assert run(*common, '--output', tmp_path / 'a', '--scale', 2, '--input_lr', tmp_path / 'lr', '--output_lr',
               tmp_path / 'b') == 2
    assert "no LR image for HR 'img001.png'" in capsys.readouterr().err
    assert run(*common, '--output', tmp_path / 'a', '--scale', 3, '--input_lr', tmp_path / 'lr', '--output_lr',
               tmp_path / 'b') == 2
    assert '--scale 3 must be a positive integer dividing --crop_size (32) and --step (16)' in capsys.readouterr().err
    assert run(*common, '--output', tmp_path / 'a', '--scale', 2) == 2
    assert '--scale, --input_lr and --output_lr go together' in capsys.readouterr().err
    write_images(tmp_path / 'lr', 2, 20, 32)
    assert run(*common, '--output', tmp_path / 'a', '--scale', 2, '--input_lr', tmp_path / 'lr', '--output_lr',
               tmp_path / 'b') == 2
    assert 'is 32x20, not 1/2 of it' in capsys.readouterr().err
    assert not osp.exists(tmp_path / 'a') and not osp.exists(tmp_path / 'b')  # nothing half-written
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]
    assert run(*common, '--output', tmp_path / 'a') == 0
    assert run(*common, '--output', tmp_path / 'a') == 2
    assert "--output '" in capsys.readouterr().err


def test_temporaries_of_a_killed_run_are_removed_and_reported(tmp_path, capsys):
    write_images(tmp_path / 'hr', 1, 16, 16)
    dead_pid = int(subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                                  text=True).stdout)
    temporary = staged_name(str(tmp_path / 'sub2'), 'tmp', pid=dead_pid)
    os.mkdir(temporary)
    with open(os.path.join(temporary, 'img000_s001.png'), 'wb') as f:
        f.write(b'half')
    assert extract_subimages.main(['--input', str(tmp_path / 'hr'), '--output', str(tmp_path / 'sub2'), '--crop_size',
                                   '8', '--step', '8']) == 0
    assert f'left by an interrupted run (process {dead_pid}, no longer running)' in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ['hr', 'sub2']
