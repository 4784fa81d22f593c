"""The documentation's commands run as written: the fenced bash blocks marked ``<!-- README test: NAME -->`` in
README.md and the pages under docs/ (data preparation, test inputs, evaluation, inference) are expanded by bash and
every command they give is run, in order, on tiny stand-in data laid out as the docs say, so neither the README nor
the docs can drift from the scripts. A block keeps its name when it moves between the README and a page."""
import cv2
import glob
import os
import pytest
import re
import runpy
import subprocess
import sys
import torch
from conftest import ROOT, run_basicsr, synthetic_image
from os import path as osp

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.data.degradations import bicubic_downscale

MARKER = re.compile(r'^<!-- README test: ([\w-]+)[^>]*-->\n```bash\n(.*?)^```$', re.M | re.S)
# each scenario runs its blocks one after another in one fresh stand-in folder
SCENARIOS = {
    'training-data': ['training-data'],
    'test-inputs': ['test-inputs'],
    'test-inputs-all, evaluation, inference': ['test-inputs-all', 'evaluation', 'inference'],
}
TEST_SETS = ('Kodak24', 'CBSD68', 'Urban100', 'LIVE1', 'Classic5', 'McMaster', 'Set5', 'Set14', 'B100', 'Manga109')


def documentation_files():
    """README.md and every page of the docs site (docs/*.md), the files whose marked blocks are run."""
    return [osp.join(ROOT, 'README.md')] + sorted(glob.glob(osp.join(ROOT, 'docs', '*.md')))


def readme_blocks():
    """``{name: bash script}`` of every marked block of the README and the docs pages."""
    found, markers = [], 0
    for file in documentation_files():
        with open(file, encoding='utf-8') as f:
            text = f.read()
        found += MARKER.findall(text)
        markers += text.count('<!-- README test:')
    blocks = dict(found)
    assert len(blocks) == len(found), 'two marked blocks of the README and docs/ have the same test name'
    assert len(found) == markers, 'a "<!-- README test: NAME -->" marker is not followed by a ```bash block'
    return blocks


def test_every_marked_block_is_run_by_a_scenario():
    assert sorted(readme_blocks()) == sorted(name for names in SCENARIOS.values() for name in names)


def test_the_marked_blocks_are_read_from_the_docs_pages_too(tmp_path, monkeypatch):
    """A block moved from the README into a page of docs/ is still found (and so still run)."""
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'README.md').write_text('# entrance\n', encoding='utf-8')
    (tmp_path / 'docs' / 'page.md').write_text('<!-- README test: moved -->\n```bash\npython scripts/x.py\n```\n',
                                               encoding='utf-8')
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', str(tmp_path))
    assert readme_blocks() == {'moved': 'python scripts/x.py\n'}


def _write(path, img):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _save_rnan(path, channels=3, upscale=1, official=False):
    torch.manual_seed(0)
    size = {} if official else dict(num_feat=8, num_group=2)
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save({'params': RNAN(channels, channels, upscale=upscale, **size).state_dict()}, path)


def stand_in(folder, scenario):
    """The README's layout in miniature: DIV2K (HR and bicubic LR), the test sets' HQ folders, converted weights."""
    os.symlink(osp.join(ROOT, 'scripts'), folder / 'scripts')
    os.symlink(osp.join(ROOT, 'options'), folder / 'options')
    if scenario == 'training-data':
        for index in (1, 2):
            hr = synthetic_image(480, 480, seed=index)
            _write(folder / 'datasets' / 'DIV2K' / 'DIV2K_train_HR' / f'{index:04d}.png', hr)
            for scale in (2, 3, 4):
                _write(folder / 'datasets' / 'DIV2K' / 'DIV2K_train_LR_bicubic' / f'X{scale}' /
                       f'{index:04d}x{scale}.png', bicubic_downscale(hr, scale))
        return
    for seed, name in enumerate(TEST_SETS):
        img = synthetic_image(24, 24, seed=seed)
        _write(folder / 'datasets' / name / 'HQ' / 'img.png', img[..., 0] if name == 'Classic5' else img)
    if scenario == 'test-inputs':
        return
    weights = folder / 'experiments' / 'pretrained_models'
    for scale in (2, 3, 4):  # basicsr test builds the network of the option files: the official configuration
        _save_rnan(weights / f'RNAN_SR_x{scale}.pth', upscale=scale, official=True)
    _save_rnan(weights / 'RNAN_CAR_q10.pth', channels=1)  # inference reads the configuration off the weights
    _save_rnan(weights / 'RNAN_DN_RGB_sigma30.pth')
    _write(folder / 'my_photos' / 'a.png', synthetic_image(14, 15, seed=20))
    _write(folder / 'my_photos' / 'b.jpg', synthetic_image(12, 10, seed=21))
    _write(folder / 'lr.png', synthetic_image(10, 9, seed=22))


def record_commands(folder, script):
    """Run ``script`` with bash, ``python`` and ``basicsr`` standing for shims that only record their arguments.

    Bash expands the loops and variables exactly as a user's shell would; the commands are then replayed here,
    in order (starting a Python with torch for each of the ~30 commands would cost minutes).
    """
    shims, record = folder / '.shims', folder / '.commands'
    shims.mkdir()
    for name in ('python', 'basicsr'):
        (shims / name).write_text('#!/bin/bash\n{ printf %s ' + name + '; for a in "$@"; do printf "\\x1f%s" "$a"; '
                                  'done; printf "\\x1e"; } >> "$README_COMMANDS"\n')
        (shims / name).chmod(0o755)
    env = dict(os.environ, PATH=os.pathsep.join([str(shims), os.environ['PATH']]), README_COMMANDS=str(record))
    result = subprocess.run(['bash', '-c', 'set -euo pipefail\n' + script], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [command.split('\x1f') for command in record.read_text().split('\x1e') if command]


def replay(command, folder):
    """``python scripts/<x>.py ...`` in this process (as ``__main__``), ``basicsr ...`` as the real command."""
    if command[0] == 'basicsr':
        result = run_basicsr(command[1:], cwd=folder, env={'OMP_NUM_THREADS': '1'})
        assert result.returncode == 0, f'{" ".join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}'
        return
    script, args = command[1], command[2:]
    assert script.startswith('scripts/') and osp.isfile(folder / script), command
    argv = sys.argv
    sys.argv = [script] + args
    try:
        runpy.run_path(str(folder / script), run_name='__main__')
        status = 0
    except SystemExit as stop:
        status = stop.code or 0
    finally:
        sys.argv = argv
    assert status == 0, f'{" ".join(command)} exited with {status}'


@pytest.mark.slow
@pytest.mark.parametrize('scenario', sorted(SCENARIOS))
def test_the_readme_commands_run_as_written(tmp_path, scenario, monkeypatch):
    blocks = readme_blocks()
    stand_in(tmp_path, SCENARIOS[scenario][0])
    commands = record_commands(tmp_path, '\n'.join(blocks[name] for name in SCENARIOS[scenario]))
    assert commands and all(command[0] in ('python', 'basicsr') for command in commands)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        replay(command, tmp_path)

    def count(folder):
        return len([name for name in os.listdir(tmp_path / folder) if not name.startswith('.')])

    if scenario == 'training-data':
        assert count('datasets/DIV2K/DIV2K_train_HR_sub') == 2
        for scale in (2, 3, 4):
            assert osp.isfile(tmp_path / f'datasets/DIV2K/DIV2K_train_LR_bicubic_X{scale}_sub.lmdb/meta_info.txt')
    elif scenario == 'test-inputs':
        assert count('datasets/Kodak24_gray') == 5 and count('datasets/LIVE1') == 6 and count('datasets/Set5') == 7
    else:
        for name in ('Kodak24', 'CBSD68', 'Urban100'):
            assert {f'N{s}' for s in (10, 30, 50, 70)} <= set(os.listdir(tmp_path / 'datasets' / name))
        assert count('datasets/BSD68_gray') == 5 and count('datasets/Classic5') == 6
        assert count('datasets/Manga109') == 7  # HQ, LRbicx2..4, GTmod2..4
        assert 'Manga109' in (tmp_path / 'results' / 'eval_sr' / 'table.md').read_text()
        assert 'LIVE1' in (tmp_path / 'results' / 'eval_car' / 'table.md').read_text()
        assert sorted(os.listdir(tmp_path / 'results' / 'my_photos_dn')) == ['a.png', 'b.png']
        assert cv2.imread(str(tmp_path / 'results' / 'sr' / 'lr.png')).shape == (40, 36, 3)
