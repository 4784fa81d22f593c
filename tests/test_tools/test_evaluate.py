"""rnan_basicsr/tools/evaluate.py (scripts/evaluate.py) from folders: the protocol per task, figures checked against
independent formulas, the Markdown / CSV tables, the visual strip, the report, and one-line errors when files do not
pair up."""
import csv
import cv2
import numpy as np
import os
import pytest
from conftest import TEST_OPTIONS, shown_lines, synthetic_image
from os import path as osp
from skimage.metrics import structural_similarity
from test_report import check_report

from rnan_basicsr.tools import evaluate


def _y(bgr):
    """BT.601 Y on [16, 235] as Matlab's rgb2ycbcr, float64, written out independently of BasicSR."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


def _psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b.astype(np.float64))**2))


def _ssim(a, b):
    return structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def _write_set(folder, gt_images, noise, seed, suffix=''):
    """Ground truth and a 'restored' copy (GT + noise) of every image; returns the restored images."""
    rng = np.random.default_rng(seed)
    (folder / 'gt').mkdir(parents=True, exist_ok=True)
    (folder / 'restored').mkdir(exist_ok=True)
    restored_images = {}
    for name, gt in gt_images.items():
        restored = np.clip(np.round(gt + rng.normal(0, noise, gt.shape)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / 'gt' / f'{name}.png'), gt)
        cv2.imwrite(str(folder / 'restored' / f'{name}{suffix}.png'), restored)
        restored_images[name] = restored
    return restored_images


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_car_table_on_y_for_two_levels_with_strip(tmp_path, capsys):
    gt = {f'img{i}': synthetic_image(30, 28, 3, seed=i) for i in range(3)}
    sets = {level: _write_set(tmp_path / level, gt, noise, seed=1, suffix='_RNAN')
            for level, noise in (('q=10', 8), ('q=40', 3))}
    for level in sets:  # LQ: a noisier copy, named like the GT
        _write_set(tmp_path / level / 'lq_src', gt, 20, seed=2)
    out = tmp_path / 'eval'
    argv = ['--task', 'car', '--out', str(out), '--crop', '16']
    for level in sets:
        argv += ['--restored', str(tmp_path / level / 'restored'), '--gt', str(tmp_path / level / 'gt'), '--lq',
                 str(tmp_path / level / 'lq_src' / 'restored'), '--dataset', 'LIVE1', '--level', level]
    assert evaluate.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('Evaluation protocol (--task car, JPEG compression artifact reduction (Y channel)): '
                              'PSNR (dB) and SSIM with BasicSR calculate_psnr / calculate_ssim on 8-bit images, '
                              'computed on the Y channel')
    assert 'no border cropped' in printed

    rows = _read_csv(out / 'table.csv')
    assert [(r['dataset'], r['level'], r['images'], r['crop_border'], r['y_channel']) for r in rows] == [
        ('LIVE1', 'q=10', '3', '0', 'True'), ('LIVE1', 'q=40', '3', '0', 'True')]
    for row in rows:
        restored = sets[row['level']]
        psnr = np.mean([_psnr(_y(restored[n]), _y(gt[n])) for n in gt])
        ssim = np.mean([_ssim(_y(restored[n]), _y(gt[n])) for n in gt])
        assert abs(float(row['psnr']) - psnr) < 1e-3 and abs(float(row['ssim']) - ssim) < 1e-5
    assert float(rows[1]['psnr']) > float(rows[0]['psnr']) + 5  # less noise, higher PSNR
    cells = [f'{float(r["psnr"]):.2f} / {float(r["ssim"]):.4f}' for r in rows]
    table = (out / 'table.md').read_text()
    assert f'| Dataset (PSNR / SSIM) | q=10 | q=40 |\n|---|---|---|\n| LIVE1 | {cells[0]} | {cells[1]} |' in table
    assert table in printed + '\n' or table.strip() in printed
    assert len(_read_csv(out / 'per_image.csv')) == 6

    strip = cv2.imread(str(out / 'strip.png'))
    # header 16 + 2 rows of (label 16 + crop 16 + 4); 3 columns of 16 with 2-px separators
    assert strip.shape == (16 + 2 * (16 + 16 + 4), 3 * 16 + 4, 3)
    top, left = (30 - 16) // 2, (28 - 16) // 2
    assert np.array_equal(strip[32:48, 18:34], sets['q=10']['img0'][top:top + 16, left:left + 16])
    assert np.array_equal(strip[32:48, 36:52], gt['img0'][top:top + 16, left:left + 16])

    # the report: the table, then per set (2 levels) one row per image with LQ, output and GT
    page = check_report(out, sections=2, rows=6, kinds=('lq', 'output', 'gt'))
    assert cells[0] in page and 'LIVE1 q=10' in page
    assert np.array_equal(cv2.imread(str(out / 'report_files' / 'LIVE1_q_10' / 'img0_output.png')),
                          sets['q=10']['img0'])


def test_sr_crops_the_scale_border_and_mod_crops_the_ground_truth(tmp_path):
    gt = {'baby': synthetic_image(33, 31, 3, seed=7)}  # not a multiple of 2: BasicSR crops the HR to 32 x 30
    (tmp_path / 'gt').mkdir()
    cv2.imwrite(str(tmp_path / 'gt' / 'baby.png'), gt['baby'])
    rng = np.random.default_rng(0)
    restored = np.clip(gt['baby'][:32, :30] + rng.normal(0, 5, (32, 30, 3)), 0, 255).astype(np.uint8)
    (tmp_path / 'sr').mkdir()
    cv2.imwrite(str(tmp_path / 'sr' / 'baby_x2_RNAN.png'), restored)
    out = tmp_path / 'eval'
    assert evaluate.main(['--task', 'sr', '--restored', str(tmp_path / 'sr'), '--gt', str(tmp_path / 'gt'),
                          '--scale', '2', '--dataset', 'Set5', '--out', str(out)]) == 0
    row = _read_csv(out / 'table.csv')[0]
    expected = _psnr(_y(restored)[2:-2, 2:-2], _y(gt['baby'][:32, :30])[2:-2, 2:-2])
    assert (row['level'], row['crop_border']) == ('x2', '2') and abs(float(row['psnr']) - expected) < 1e-3
    assert cv2.imread(str(out / 'strip.png')).shape[1] == 2 * 30 + 2  # no LQ given: RNAN | GT


def test_denoising_compares_the_images_own_channels(tmp_path):
    gt = {'a': synthetic_image(20, 20, 3, seed=1)}
    restored = _write_set(tmp_path, gt, 6, seed=0)
    out = tmp_path / 'eval'
    assert evaluate.main(['--task', 'dn_rgb', '--restored', str(tmp_path / 'restored'), '--gt', str(tmp_path / 'gt'),
                          '--level', 'sigma=30', '--out', str(out)]) == 0
    row = _read_csv(out / 'table.csv')[0]
    assert (row['dataset'], row['y_channel']) == ('gt', 'False')
    assert abs(float(row['psnr']) - _psnr(restored['a'], gt['a'])) < 1e-3


def _error(capsys, argv):
    assert evaluate.main(argv) == 2
    lines = shown_lines(capsys.readouterr().err)  # a progress bar on the way is cleared
    assert len(lines) == 1 and lines[0].startswith('evaluate.py: error: '), lines
    return lines[0]


def test_files_that_do_not_pair_up_are_named(tmp_path, capsys):
    gt = {f'img{i}': synthetic_image(12, 12, 3, seed=i) for i in range(3)}
    _write_set(tmp_path, gt, 4, seed=0, suffix='_RNAN')
    restored, gt_dir = tmp_path / 'restored', str(tmp_path / 'gt')
    base = ['--task', 'dn_rgb', '--gt', gt_dir, '--restored', str(restored), '--out', str(tmp_path / 'eval')]

    (restored / 'img1_RNAN.png').rename(tmp_path / 'moved.png')
    line = _error(capsys, base)
    assert f"no restored file in {str(restored)!r} for ground truth {osp.join(gt_dir, 'img1.png')!r}" in line
    (tmp_path / 'moved.png').rename(restored / 'img1_RNAN.png')

    cv2.imwrite(str(restored / 'extra_RNAN.png'), gt['img0'])
    assert f"restored file {str(restored / 'extra_RNAN.png')!r} has no ground truth in {gt_dir!r}" in _error(
        capsys, base)
    (restored / 'extra_RNAN.png').unlink()

    cv2.imwrite(str(restored / 'img2_RNAN.png'), gt['img2'][:10])
    assert 'is 12x10 but its ground truth' in _error(capsys, base)
    cv2.imwrite(str(restored / 'img2_RNAN.png'), gt['img2'][..., 0])
    assert 'has 1 channel(s) but its ground truth' in _error(capsys, base)
    assert not (tmp_path / 'eval').exists()


@pytest.mark.parametrize('argv,message', [
    ([], 'nothing to evaluate'),
    (['--restored', 'a', '--gt', 'b', '--gt', 'c'], 'give one --gt per --restored'),
    (['--restored', 'a', '--gt', 'b', '--level', 'x', '--level', 'y'], 'give --level for every --restored or for none'),
    (['--restored', 'a', '--gt', 'b', '--scale', '2'], '--scale applies to --task sr only'),
    (['--restored', 'a', '--gt', 'b', '--opt', 'x.yml'], 'either --opt'),
    (['--restored', 'nowhere', '--gt', 'nowhere'], "--gt 'nowhere' does not exist"),
    (['--opt', 'no.yml'], "option file 'no.yml' does not exist"),
    (['--opt', osp.join(TEST_OPTIONS, 'test_tiny_rnan_sr_x2.yml')], 'Run basicsr test -opt'),
    (['--crop', '0', '--restored', 'a', '--gt', 'b'], '--crop must be >= 1'),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    line = _error(capsys, ['--task', 'dn_gray', '--root', str(tmp_path), '--out', str(tmp_path / 'e')] + argv)
    assert message in line


def test_sr_needs_its_scale(tmp_path, capsys):
    assert '--task sr needs --scale' in _error(capsys, ['--task', 'sr', '--restored', 'a', '--gt', 'b'])


def test_results_of_option_files_with_on_the_fly_degradations(tmp_path, capsys):
    """--opt builds each option file's datasets as basicsr test does (here: noise made from the seed), reads the
    restored images from results/<name>/visualization/<dataset>/<image>_<name>.png and labels the level from sigma;
    two files in one call each read their own folder and names."""
    import yaml
    from basicsr.data import build_dataset
    from basicsr.utils import tensor2img

    (tmp_path / 'hq').mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / 'hq' / f'gt{i}.png'), synthetic_image(24, 20, 1, seed=i)[..., 0])
    expected = {}
    for name, sigma in (('test_dn30', 30), ('test_dn50', 50)):
        dataset_opt = {'name': 'Toy68', 'type': 'DenoisingDataset', 'dataroot_gt': 'hq',
                       'io_backend': {'type': 'disk'}, 'sigma': sigma, 'gray': True}
        opt = {'name': name, 'model_type': 'RNANModel', 'num_gpu': 0, 'datasets': {'test_1': dataset_opt},
               'val': {'save_img': True, 'suffix': None, 'metrics': {
                   'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': True}}}}
        (tmp_path / f'{name}.yml').write_text(yaml.safe_dump(opt))
        # what `basicsr test` of a network returning its input would have written: the noisy inputs themselves
        dataset = build_dataset(dict(dataset_opt, phase='test', dataroot_gt=str(tmp_path / 'hq'), scale=1))
        results = tmp_path / 'results' / name / 'visualization' / 'Toy68'
        results.mkdir(parents=True)
        scores = []
        for item in (dataset[i] for i in range(len(dataset))):
            image = osp.splitext(osp.basename(item['lq_path']))[0]
            noisy = tensor2img(item['lq'])
            scores.append(_psnr(noisy, tensor2img(item['gt'])))
            cv2.imwrite(str(results / f'{image}_{name}.png'), noisy)
        expected[f'sigma={sigma}'] = np.mean(scores)

    out = tmp_path / 'eval'
    assert evaluate.main(['--task', 'dn_gray', '--opt', str(tmp_path / 'test_dn30.yml'),
                          str(tmp_path / 'test_dn50.yml'), '--root', str(tmp_path), '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("note: ") and 'test_y_channel=True' in printed  # the file's psnr is on Y: flagged
    rows = {row['level']: row for row in _read_csv(out / 'table.csv')}
    assert sorted(rows) == ['sigma=30', 'sigma=50']
    for level, row in rows.items():
        assert (row['dataset'], row['images']) == ('Toy68', '2')
        assert abs(float(row['psnr']) - expected[level]) < 1e-3
    assert 18 < expected['sigma=30'] < 20 and 14 < expected['sigma=50'] < 16  # AWGN: about 18.6 and 14.2 dB


def test_the_help_example_runs_on_the_readme_layout(tmp_path, monkeypatch):
    """``--help``'s folder example, run as written in the README's dataset layout (datasets/<set>/Y for the JPEG
    ground truth, Q10 for the inputs, as generate_lq.py makes them)."""
    import re
    import shlex
    lines = evaluate.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if 'scripts/evaluate.py --task car' in line)
    command = lines[start].strip()
    while command.endswith('\\'):
        start += 1
        command = command[:-1] + lines[start].strip()
    argv = shlex.split(command)[2:]
    folders = {flag: argv[argv.index(flag) + 1] for flag in ('--gt', '--lq', '--restored')}
    assert re.fullmatch(r'datasets/LIVE1/Y', folders['--gt']) and re.fullmatch(r'datasets/LIVE1/Q10', folders['--lq'])
    monkeypatch.chdir(tmp_path)
    for folder in folders.values():
        os.makedirs(folder)
        cv2.imwrite(osp.join(folder, 'bikes.png'), synthetic_image(16, 16, channels=1)[..., 0])
    assert evaluate.main(argv) == 0
    assert osp.isfile(argv[argv.index('--out') + 1] + '/table.md')
