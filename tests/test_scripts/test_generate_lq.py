"""scripts/data_preparation/generate_lq.py: the paper's test inputs per task, byte-identical per seed."""
import cv2
import numpy as np
import os
import pytest
import subprocess
import sys
from conftest import ROOT, load_script, synthetic_image, write_images
from os import path as osp

from rnan_basicsr.data.degradations import bayer_mosaic, bicubic_downscale, jpeg_compress_y, to_gray, y_channel
from rnan_basicsr.data.denoising_dataset import DenoisingDataset

generate_lq = load_script('generate_lq')


def run(*argv):
    return generate_lq.main([str(a) for a in argv])


@pytest.fixture
def clean(tmp_path):
    """clean/: two colour PNGs, a colour BMP in a subfolder, a grey PNG (odd sizes)."""
    write_images(tmp_path / 'clean', 2, 21, 26)
    os.makedirs(tmp_path / 'clean' / 'sub')
    cv2.imwrite(str(tmp_path / 'clean' / 'sub' / 'photo.bmp'), synthetic_image(19, 24, seed=9))
    cv2.imwrite(str(tmp_path / 'clean' / 'gray.png'), synthetic_image(17, 15, channels=1, seed=8)[..., 0])
    return tmp_path / 'clean'


def read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def names(folder):
    return sorted(osp.relpath(osp.join(r, f), folder) for r, _, files in os.walk(folder) for f in files)


def test_denoise_same_seed_same_bytes_and_same_as_the_validation_dataset(tmp_path, clean):
    for out, seed, threads in (('a', 0, 1), ('b', 0, 2), ('c', 1, 2)):
        assert run('--task', 'denoise', '--sigma', 30, '--seed', seed, '--input', clean, '--output', tmp_path / out,
                   '--threads', threads) == 0
    expected = ['gray.png', 'img000.png', 'img001.png', 'sub/photo.png']
    assert names(tmp_path / 'a') == expected
    for name in expected:
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()
        assert (tmp_path / 'a' / name).read_bytes() != (tmp_path / 'c' / name).read_bytes()
    noisy = read(tmp_path / 'a' / 'sub' / 'photo.png')
    residual = noisy.astype(np.float64) - read(clean / 'sub' / 'photo.bmp')
    assert noisy.shape == (19, 24, 3) and 25 < residual.std() < 35
    # the DenoisingDataset validation inputs (seed 0) are exactly these files
    dataset = DenoisingDataset({'name': 'V', 'type': 'DenoisingDataset', 'phase': 'val', 'dataroot_gt': str(clean),
                                'sigma': 30})
    for index, entry in enumerate(dataset.paths):
        lq = dataset[index]['lq'].numpy().transpose(1, 2, 0)[..., ::-1] * 255
        assert np.array_equal(np.round(lq), read(tmp_path / 'a' / f'{entry["key"]}.png').reshape(lq.shape))


def test_gray_denoise_writes_one_channel_pngs_and_the_grey_ground_truth(tmp_path, clean):
    assert run('--task', 'denoise', '--sigma', 50, '--gray', '--input', clean, '--output', tmp_path / 'lq',
               '--gt-output', tmp_path / 'gt') == 0
    gt = read(tmp_path / 'gt' / 'img000.png')
    assert gt.ndim == 2 and np.array_equal(gt, to_gray(read(clean / 'img000.png'))[..., 0])
    assert read(tmp_path / 'lq' / 'img000.png').ndim == 2
    assert np.array_equal(read(tmp_path / 'gt' / 'gray.png'), read(clean / 'gray.png'))


def test_jpeg_is_the_compressed_y_channel(tmp_path, clean):
    assert run('--task', 'jpeg', '--quality', 10, '--input', clean, '--output', tmp_path / 'lq', '--gt-output',
               tmp_path / 'gt') == 0
    colour = read(clean / 'img001.png')
    assert np.array_equal(read(tmp_path / 'gt' / 'img001.png'), y_channel(colour)[..., 0])
    assert np.array_equal(read(tmp_path / 'lq' / 'img001.png'), jpeg_compress_y(colour, 10)[..., 0])
    gray = read(clean / 'gray.png')  # encoded as it is
    assert np.array_equal(read(tmp_path / 'lq' / 'gray.png'), jpeg_compress_y(gray, 10))
    assert np.array_equal(read(tmp_path / 'gt' / 'gray.png'), gray)


def test_demosaic_and_sr(tmp_path, clean):
    assert run('--task', 'demosaic', '--input', clean, '--output', tmp_path / 'mosaic') == 0
    assert np.array_equal(read(tmp_path / 'mosaic' / 'img000.png'), bayer_mosaic(read(clean / 'img000.png')))
    grey_mosaic = read(tmp_path / 'mosaic' / 'gray.png')
    assert grey_mosaic.shape == (17, 15, 3)  # grey images get three equal channels first
    assert run('--task', 'sr', '--scale', 4, '--input', clean, '--output', tmp_path / 'lr', '--gt-output',
               tmp_path / 'hr') == 0
    photo = read(clean / 'sub' / 'photo.bmp')
    assert read(tmp_path / 'hr' / 'sub' / 'photo.png').shape == (16, 24, 3)  # 19x24 cropped to a multiple of 4
    assert np.array_equal(read(tmp_path / 'hr' / 'sub' / 'photo.png'), photo[:16])
    assert np.array_equal(read(tmp_path / 'lr' / 'sub' / 'photo.png'), bicubic_downscale(photo, 4))


@pytest.mark.parametrize('argv, expected', [
    (['--task', 'denoise'], '--task denoise needs --sigma.'),
    (['--task', 'jpeg', '--quality', 10, '--sigma', 5], '--sigma does not apply to --task jpeg (it takes: --quality).'),
    (['--task', 'sr', '--scale', 2, '--seed', 3], '--seed does not apply to --task sr'),
    (['--task', 'jpeg', '--quality', 101], '--quality must be in 1..100, got 101.'),
    (['--task', 'denoise', '--sigma', 0.2], 'looks like the [0, 1] scale; sigma is on the 0-255 scale: --sigma 51.'),
    (['--task', 'demosaic', '--gray'], '--gray does not apply to --task demosaic'),
])
def test_argument_errors(tmp_path, clean, capsys, argv, expected):
    assert run(*argv, '--input', clean, '--output', tmp_path / 'out') == 2
    err = capsys.readouterr().err
    assert err.startswith('generate_lq.py: error: ') and expected in err
    assert not osp.exists(tmp_path / 'out')


def test_outputs_are_not_overwritten_nor_left_half_written(tmp_path, clean, capsys):
    assert run('--task', 'demosaic', '--input', clean, '--output', tmp_path / 'out') == 0
    assert run('--task', 'demosaic', '--input', clean, '--output', tmp_path / 'out') == 2
    assert 'already exists; pass --overwrite' in capsys.readouterr().err
    assert run('--task', 'demosaic', '--input', clean, '--output', clean / 'inside', '--overwrite') == 2
    assert 'overlaps the input folder' in capsys.readouterr().err
    assert run('--task', 'demosaic', '--input', clean / 'sub', '--output', clean, '--overwrite') == 2
    assert 'overlaps the input folder' in capsys.readouterr().err
    before = read(tmp_path / 'out' / 'img000.png')
    write_images(tmp_path / 'other', 2, 8, 8, seed=50)
    (tmp_path / 'other' / 'img001.png').write_bytes(b'not an image')
    assert run('--task', 'demosaic', '--input', tmp_path / 'other', '--output', tmp_path / 'out', '--overwrite') == 2
    assert "img001.png' is not a readable image" in capsys.readouterr().err
    assert np.array_equal(read(tmp_path / 'out' / 'img000.png'), before)  # the old output is intact
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]


def test_the_command_line_gives_the_same_bytes_in_another_process(tmp_path, clean):
    assert run('--task', 'denoise', '--sigma', 25, '--seed', 3, '--input', clean, '--output', tmp_path / 'here') == 0
    script = osp.join(ROOT, 'scripts', 'data_preparation', 'generate_lq.py')
    argv = ['--task', 'denoise', '--sigma', '25', '--seed', '3', '--input', str(clean), '--output']
    argv.append(str(tmp_path / 'there'))
    env = dict(os.environ, PYTHONHASHSEED='123')  # string hashing differs from this process: seeds must not use it
    result = subprocess.run([sys.executable, script, *argv], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'Wrote 4 images to' in result.stdout
    for name in names(tmp_path / 'here'):
        assert (tmp_path / 'here' / name).read_bytes() == (tmp_path / 'there' / name).read_bytes()
