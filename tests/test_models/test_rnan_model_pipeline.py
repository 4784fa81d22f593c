"""End to end: RNANModel through `basicsr train` then `basicsr test` (SR x2, tiled and self-ensembled), then
scripts/evaluate.py on the results."""
import csv
import cv2
import glob
import numpy as np
import os
import pytest
import re
import sys
from conftest import ROOT, TEST_OPTIONS, run_basicsr, write_images
from os import path as osp

TRAIN = osp.join(TEST_OPTIONS, 'train_tiny_rnan_sr_x2.yml')
TEST = osp.join(TEST_OPTIONS, 'test_tiny_rnan_sr_x2.yml')


def _make_sr_pairs(root):
    """datasets/tiny_sr/{train,val}/{gt,lq}: 32x32 -> 16x16 training pairs, 40x36 -> 20x18 validation pairs."""
    for split, count, (height, width), seed in (('train', 4, (32, 32), 0), ('val', 2, (40, 36), 50)):
        gt_paths = write_images(root / 'datasets' / 'tiny_sr' / split / 'gt', count, height, width, seed=seed)
        lq_dir = root / 'datasets' / 'tiny_sr' / split / 'lq'
        os.makedirs(lq_dir, exist_ok=True)
        for path in gt_paths:
            lq = cv2.resize(cv2.imread(path), (width // 2, height // 2), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(lq_dir / osp.basename(path)), lq)


def _validation_values(log, dataset, metric):
    return re.findall(rf'Validation {dataset}\n(?:\s+# \w+: [\d.]+.*\n)*?\s+# {metric}: ([\d.]+)', log)


@pytest.mark.slow
def test_train_test_and_evaluate_a_tiny_sr_model(tmp_path, capsys):
    _make_sr_pairs(tmp_path)
    result = run_basicsr(['train', '-opt', TRAIN], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    train_psnr = _validation_values(result.stderr, 'TinyVal', 'psnr')
    assert len(train_psnr) == 2  # at iteration 2 and after training, with the EMA network both times
    events = glob.glob(str(tmp_path / 'tb_logger' / 'tiny_rnan_sr_x2' / 'events.out.tfevents.*'))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(events[0])
    accumulator.Reload()
    assert sorted(accumulator.Tags()['images']) == ['val_images/TinyVal/img000', 'val_images/TinyVal/img001']
    image = accumulator.Images('val_images/TinyVal/img000')[0]
    assert (image.height, image.width) == (40, 3 * 36 + 4)  # LQ (enlarged) | output | GT

    result = run_basicsr(['test', '-opt', TEST], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Testing with the EMA weights (params_ema)' in result.stderr
    test_psnr = _validation_values(result.stderr, 'TinySet', 'psnr')
    test_ssim = _validation_values(result.stderr, 'TinySet', 'ssim')
    assert len(test_psnr) == len(test_ssim) == 1
    # the same weights, images, tiling and ensemble as the last validation of training: the same PSNR
    assert test_psnr[0] == train_psnr[-1]
    results = tmp_path / 'results' / 'tiny_rnan_sr_x2_test' / 'visualization' / 'TinySet'
    assert sorted(os.listdir(results)) == ['img000_tiny_rnan_sr_x2_test.png', 'img001_tiny_rnan_sr_x2_test.png']
    assert cv2.imread(str(results / 'img000_tiny_rnan_sr_x2_test.png')).shape == (40, 36, 3)

    # evaluate.py reads those results and the option file's dataset: it must reproduce the logged figures
    sys.path.insert(0, osp.join(ROOT, 'scripts'))
    import evaluate
    out = tmp_path / 'evaluation'
    assert evaluate.main(['--task', 'sr', '--opt', TEST, '--root', str(tmp_path), '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'Evaluation protocol (--task sr, bicubic super-resolution)' in printed and 'x2: 2 px' in printed
    with open(out / 'table.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['dataset'], r['level'], r['images'], r['crop_border']) for r in rows] == [('TinySet', 'x2', '2', '2')]
    assert rows[0]['psnr'] == test_psnr[0]
    assert abs(float(rows[0]['ssim']) - float(test_ssim[0])) < 1e-4
    assert f'| TinySet | {float(test_psnr[0]):.2f} / {float(test_ssim[0]):.4f} |' in printed
    strip = cv2.imread(str(out / 'strip.png'))
    assert strip.shape[1] == 3 * 36 + 4 and strip.shape[0] > 40
    restored = cv2.imread(str(results / 'img000_tiny_rnan_sr_x2_test.png'))
    assert np.array_equal(strip[-4 - 40:-4, 36 + 2:2 * 36 + 2], restored)  # the middle column of the last row
