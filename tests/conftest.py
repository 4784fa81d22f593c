"""Shared helpers for the test suite: tiny synthetic images, and running the real ``basicsr`` command."""
import cv2
import numpy as np
import os
import pytest
import subprocess
import sys
from os import path as osp

from rnan_basicsr import compat

compat.apply()  # the tests check BasicSR as the basicsr command runs it: with every fix

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_OPTIONS = osp.join(ROOT, 'tests', 'options')
#: key names and shapes of the authors' released checkpoints (tests/data/official_keys/README.md)
OFFICIAL_KEYS = osp.join(ROOT, 'tests', 'data', 'official_keys')
BASICSR = osp.join(osp.dirname(sys.executable), 'basicsr')


def key_position(path, *keys):
    """``path:line:column`` of the key path ``keys`` (``'train', 'optim_g', 'lr'``) in a block-style YAML file, found by
    reading its text (independently of the loader whose positions the tests check)."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    number, parent = 0, -1
    for key in keys:
        level = None  # the indentation of the section's own keys: that of its first line
        while True:
            assert number < len(lines), f'{".".join(keys)} not found in {path}'
            text = lines[number]
            number += 1
            if not text.strip() or text.lstrip().startswith('#'):
                continue
            column = len(text) - len(text.lstrip())
            assert column > parent, f'{".".join(keys)} not found in {path}'
            level = column if level is None else level
            if column == level and text.lstrip().startswith(f'{key}:'):
                parent = column
                break
    return f'{path}:{number}:{parent + 1}'


def official_shapes(variant):
    """``{key: shape}`` of a released checkpoint variant (``keys_rest_c1``, ``keys_sr_x2``...), in file order."""
    shapes = {}
    with open(osp.join(OFFICIAL_KEYS, f'{variant}.txt')) as f:
        for line in f:
            if line.strip():
                key, shape = line.split(' ', 1)
                shapes[key] = tuple(int(v) for v in shape.strip('()\n ').split(',') if v.strip())
    return shapes


def make_lmdb(folder, lmdb_path):
    """An LMDB of the images in ``folder``, made by scripts/data_preparation/create_lmdb.py."""
    from rnan_basicsr.tools import create_lmdb
    assert create_lmdb.main(['--input', str(folder), '--output', str(lmdb_path)]) == 0


def shown_lines(text):
    """The non-blank lines a terminal shows for ``text``: of each line, what its last carriage return leaves (a
    progress bar that cleared itself with ``leave=False`` is gone)."""
    return [line.rsplit('\r', 1)[-1] for line in text.split('\n') if line.rsplit('\r', 1)[-1].strip()]


def synthetic_image(height, width, channels=3, seed=0):
    """A smooth random uint8 image (H, W, C) with some structure, so that restoration has something to learn."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, channels), np.float32)
    for c in range(channels):
        fy, fx, phase = rng.uniform(0.05, 0.3, size=3)
        img[..., c] = 127.5 + 100 * np.sin(fy * yy + phase) * np.cos(fx * xx + c)
    img += rng.normal(0, 5, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def write_images(folder, count, height, width, channels=3, seed=0, prefix='img'):
    """Write ``count`` synthetic PNGs to ``folder``; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        img = synthetic_image(height, width, channels, seed + i)
        path = osp.join(folder, f'{prefix}{i:03d}.png')
        cv2.imwrite(path, img if channels == 3 else img[..., 0])
        paths.append(path)
    return paths


def require_command(path):
    """Skip the calling test when the command ``path`` is missing, except in CI (``CI`` set): there a missing command
    is a broken environment, and a test that silently skips would hide it."""
    if not osp.exists(path):
        assert not os.environ.get('CI'), f'{path} is missing, and CI must run the tests that use it'
        pytest.skip(f'{osp.basename(path)} is not installed beside this Python')


def run_basicsr(args, cwd, timeout=600, env=None):
    """Run the installed ``basicsr`` console script; returns the CompletedProcess (text output)."""
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    return subprocess.run([BASICSR, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture
def tiny_paired_data(tmp_path):
    """datasets/tiny/{gt,lq}: 4 training pairs and 1 validation pair of 32x32 colour images (lq = noisy gt)."""
    rng = np.random.default_rng(0)
    for split, count, seed in (('train', 4, 0), ('val', 1, 100)):
        gt_paths = write_images(tmp_path / 'datasets' / 'tiny' / split / 'gt', count, 32, 32, seed=seed)
        lq_dir = tmp_path / 'datasets' / 'tiny' / split / 'lq'
        os.makedirs(lq_dir, exist_ok=True)
        for path in gt_paths:
            gt = cv2.imread(path).astype(np.float32)
            lq = np.clip(np.round(gt + rng.normal(0, 15, gt.shape)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(lq_dir / osp.basename(path)), lq)
    return tmp_path
