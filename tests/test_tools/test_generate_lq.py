"""rnan_basicsr/tools/generate_lq.py (scripts/data_preparation/generate_lq.py): the paper's test inputs per task,
byte-identical per seed, several levels in one call."""
import cv2
import numpy as np
import os
import pytest
import subprocess
import sys
from conftest import ROOT, synthetic_image, write_images
from os import path as osp

from rnan_basicsr.data.degradations import bayer_mosaic, bicubic_downscale, jpeg_compress_y, to_gray, y_channel
from rnan_basicsr.data.denoising_dataset import DenoisingDataset
from rnan_basicsr.tools import generate_lq
from rnan_basicsr.utils.staging import staged_name


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
                   '--n_thread', threads) == 0
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
               '--gt_output', tmp_path / 'gt') == 0
    gt = read(tmp_path / 'gt' / 'img000.png')
    assert gt.ndim == 2 and np.array_equal(gt, to_gray(read(clean / 'img000.png'))[..., 0])
    assert read(tmp_path / 'lq' / 'img000.png').ndim == 2
    assert np.array_equal(read(tmp_path / 'gt' / 'gray.png'), read(clean / 'gray.png'))


def test_jpeg_is_the_compressed_y_channel(tmp_path, clean):
    assert run('--task', 'jpeg', '--quality', 10, '--input', clean, '--output', tmp_path / 'lq', '--gt_output',
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
    assert run('--task', 'sr', '--scale', 4, '--input', clean, '--output', tmp_path / 'lr', '--gt_output',
               tmp_path / 'hr') == 0
    photo = read(clean / 'sub' / 'photo.bmp')
    assert read(tmp_path / 'hr' / 'sub' / 'photo.png').shape == (16, 24, 3)  # 19x24 cropped to a multiple of 4
    assert np.array_equal(read(tmp_path / 'hr' / 'sub' / 'photo.png'), photo[:16])
    assert np.array_equal(read(tmp_path / 'lr' / 'sub' / 'photo.png'), bicubic_downscale(photo, 4))


@pytest.mark.parametrize('argv, expected', [
    (['--task', 'denoise'], '--task denoise needs --sigma (one or more, e.g. --sigma 10 30 50 70).'),
    (['--task', 'jpeg', '--quality', 10, '--sigma', 5], '--sigma does not apply to --task jpeg (it takes: --quality).'),
    (['--task', 'sr', '--scale', 2, '--seed', 3], '--seed does not apply to --task sr'),
    (['--task', 'jpeg', '--quality', 101], '--quality must be in 1..100 (JPEG quality), got 101.'),
    (['--task', 'sr', '--scale', 5], '--scale must be in 2..4 (super-resolution factor), got 5.'),
    (['--task', 'jpeg', '--quality', 10, 20], 'has no {} for the level, but 2 levels give one folder each: e.g.'),
    (['--task', 'jpeg', '--quality', 10, 10, '--output', 'Q{}'], '--quality lists a level twice: 10 10.'),
    (['--task', 'sr', '--scale', 2, 3, '--output', 'LR{}', '--gt_output', 'GT'], "needs {} with several --scale"),
    (['--task', 'demosaic', '--output', 'M{}'], '--task demosaic has no level to put in {}'),
    (['--task', 'denoise', '--sigma', 0.2], 'looks like the [0, 1] scale; sigma is on the 0-255 scale: --sigma 51.'),
    (['--task', 'demosaic', '--gray'], '--gray does not apply to --task demosaic'),
])
def test_argument_errors(tmp_path, clean, capsys, argv, expected, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if '--output' not in argv:
        argv = argv + ['--output', tmp_path / 'out']
    assert run(*argv, '--input', clean) == 2
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


@pytest.mark.slow
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


def test_several_levels_in_one_call_give_the_files_of_one_call_per_level(tmp_path, clean):
    assert run('--task', 'denoise', '--sigma', 10, 12.5, 50, '--gray', '--input', clean, '--output',
               tmp_path / 'all' / 'N{}', '--gt_output', tmp_path / 'all' / 'HQ') == 0
    assert sorted(os.listdir(tmp_path / 'all')) == ['HQ', 'N10', 'N12.5', 'N50']  # the ground truth once
    assert run('--task', 'denoise', '--sigma', 50, '--gray', '--input', clean, '--output', tmp_path / 'one',
               '--gt_output', tmp_path / 'one_gt') == 0
    for name in names(tmp_path / 'one'):
        assert (tmp_path / 'all' / 'N50' / name).read_bytes() == (tmp_path / 'one' / name).read_bytes()
        assert (tmp_path / 'all' / 'HQ' / name).read_bytes() == (tmp_path / 'one_gt' / name).read_bytes()
    assert run('--task', 'sr', '--scale', 2, 3, 4, '--input', clean, '--output', tmp_path / 'LRbicx{}', '--gt_output',
               tmp_path / 'GTmod{}') == 0
    photo = read(clean / 'sub' / 'photo.bmp')
    for scale in (2, 3, 4):
        assert np.array_equal(read(tmp_path / f'LRbicx{scale}' / 'sub' / 'photo.png'), bicubic_downscale(photo, scale))
        assert read(tmp_path / f'GTmod{scale}' / 'sub' / 'photo.png').shape == (19 // scale * scale, 24, 3)
    assert run('--task', 'jpeg', '--quality', 10, 40, '--input', clean, '--output', tmp_path / 'Q{}') == 0
    expected = jpeg_compress_y(read(clean / 'img000.png'), 40)
    assert np.array_equal(read(tmp_path / 'Q40' / 'img000.png'), expected.reshape(expected.shape[:2]))


def test_temporaries_of_an_interrupted_run_are_removed_by_the_next_one(tmp_path, clean, capsys):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    dead_temporary = staged_name(str(tmp_path / 'out'), 'tmp', pid=dead_pid)
    running_temporary = staged_name(str(tmp_path / 'out'), 'tmp', pid=os.getppid())
    os.makedirs(os.path.join(dead_temporary, 'sub'))  # what a killed run leaves
    os.mkdir(running_temporary)  # a running process's: left alone
    assert run('--task', 'demosaic', '--input', clean, '--output', tmp_path / 'out') == 0
    out = capsys.readouterr().out
    assert f'Removed {dead_temporary}, left by an interrupted run (process {dead_pid}, no longer running).' in out
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith('.')) == [
        os.path.basename(running_temporary)]


def test_levels_are_added_to_a_set_whose_ground_truth_is_the_same(tmp_path, clean, capsys):
    assert run('--task', 'denoise', '--sigma', 10, '--input', clean, '--output', tmp_path / 'N{}', '--gt_output',
               tmp_path / 'GT') == 0
    gt_before = {name: (tmp_path / 'GT' / name).read_bytes() for name in names(tmp_path / 'GT')}
    capsys.readouterr()
    assert run('--task', 'denoise', '--sigma', 30, 50, '--input', clean, '--output', tmp_path / 'N{}', '--gt_output',
               tmp_path / 'GT') == 0
    assert f'kept {tmp_path / "GT"}: it holds exactly their ground truth' in capsys.readouterr().out
    assert names(tmp_path / 'N30') == names(tmp_path / 'N50') == names(tmp_path / 'N10')
    assert {name: (tmp_path / 'GT' / name).read_bytes() for name in names(tmp_path / 'GT')} == gt_before
    # another ground truth (grey instead of colour) is refused, and nothing of this run is left
    assert run('--task', 'denoise', '--sigma', 70, '--gray', '--input', clean, '--output', tmp_path / 'N{}',
               '--gt_output', tmp_path / 'GT') == 2
    assert 'differs from the ground truth these inputs give; pass --overwrite' in capsys.readouterr().err
    assert not (tmp_path / 'N70').exists() and sorted(os.listdir(tmp_path)) == ['GT', 'N10', 'N30', 'N50', 'clean']


def test_inputs_changed_to_the_protocol_are_noted_once_per_kind(tmp_path, capsys):
    inputs = tmp_path / 'in'
    inputs.mkdir()
    cv2.imwrite(str(inputs / 'deep.png'), (synthetic_image(12, 12).astype(np.uint16) * 257))
    cv2.imwrite(str(inputs / 'rgba.png'), np.dstack([synthetic_image(12, 12), np.full((12, 12), 128, np.uint8)]))
    cv2.imwrite(str(inputs / 'grey.png'), synthetic_image(12, 12, channels=1)[..., 0])
    assert run('--task', 'demosaic', '--input', inputs, '--output', tmp_path / 'M') == 0
    out = capsys.readouterr().out
    assert 'Wrote 3 images to' in out
    assert 'note: 1 input(s) 16-bit, reduced to 8 bits (the protocol is 8-bit): deep.png' in out
    assert 'note: 1 input(s) with an alpha channel, dropped: rgba.png' in out
    assert 'note: 1 input(s) grey, written as 3 equal colour channels (this task makes colour images): grey.png' in out
    assert read(tmp_path / 'M' / 'deep.png').dtype == np.uint8
    os.remove(inputs / 'deep.png')
    os.remove(inputs / 'rgba.png')
    assert run('--task', 'jpeg', '--quality', 10, '--input', inputs, '--output', tmp_path / 'J') == 0
    out = capsys.readouterr().out
    assert 'Wrote 1 image to' in out and 'note' not in out  # a grey image is its own Y
