"""rnan_basicsr.tools.quickstart --tiny: the quickstart's whole path in miniature (skimage.data photographs,
extract_subimages, create_lmdb, generate_lq, a real `basicsr train` subprocess with TensorBoard, inference, evaluate),
then what later runs over the same folder do: reuse what is complete, rebuild what is missing, continue an interrupted
training, and keep the previous run when training starts again."""
import cv2
import glob
import numpy as np
import os
import pytest
import re
import shutil
from os import path as osp

from rnan_basicsr.tools import quickstart

NAME = 'RNAN_quickstart_DN_RGB_sigma30_tiny'
DATA = osp.join('datasets', 'quickstart_tiny')


def _psnr(a, b):
    """PSNR of two uint8 images on all channels, written out independently of BasicSR."""
    return 10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b.astype(np.float64))**2))


def _figures(out):
    noisy = float(re.search(r'noisy input: +PSNR ([\d.]+) dB', out).group(1))
    restored = float(re.search(r'RNAN restored: PSNR ([\d.]+) dB', out).group(1))
    picture = re.search(r'Side by side \(noisy \| restored \| clean\): (\S+)', out).group(1)
    return noisy, restored, picture


def _events(workdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # the folder, as TensorBoard reads a run: every events file in it (a resumed run adds one)
    accumulator = EventAccumulator(osp.join(workdir, 'tb_logger', NAME), size_guidance={'scalars': 0, 'images': 0})
    accumulator.Reload()
    return accumulator


def _run(workdir, capfd, *flags):
    assert quickstart.main(['--tiny', '--workdir', str(workdir), *flags]) == 0
    captured = capfd.readouterr()
    return captured.out + captured.err


@pytest.mark.slow
def test_quickstart_in_miniature_then_reuse_rebuild_and_resume(tmp_path, capfd):
    workdir = tmp_path / 'qs'
    out = _run(workdir, capfd)
    for step in range(1, 8):
        assert f'==> [{step}/7]' in out
    assert 'Start training from epoch: 0, iter: 0' in out  # BasicSR's own log, from the real `basicsr train`

    # the printed figures are those of the files: noisy input, restored output, clean image
    clean = cv2.imread(str(workdir / DATA / 'val_HR' / 'chelsea.png'))
    noisy = cv2.imread(str(workdir / DATA / 'val_N30' / 'chelsea.png'))
    restored = cv2.imread(str(workdir / 'results' / NAME / 'restored' / 'chelsea.png'))
    assert clean.shape == noisy.shape == restored.shape == (32, 32, 3)
    noisy_psnr, restored_psnr, picture = _figures(out)
    assert f'{noisy_psnr:.2f}' == f'{_psnr(noisy, clean):.2f}'
    assert 17 < noisy_psnr < 21  # sigma 30 on 8 bits, clipped
    assert f'{restored_psnr:.2f}' == f'{_psnr(restored, clean):.2f}'

    # the picture: noisy | restored | clean, side by side at full size under the title rows
    strip = cv2.imread(osp.join(os.getcwd(), picture))
    assert strip.shape[1] == 3 * 32 + 2 * 2
    rows = strip[-4 - 32:-4]
    for column, image in enumerate((noisy, restored, clean)):
        assert np.array_equal(rows[:, column * 34:column * 34 + 32], image)

    # training read the LMDB of the sub-images (3 crops of 64x64 -> 4 pieces of 32x32 each)
    with open(workdir / DATA / 'train_HR_sub.lmdb' / 'meta_info.txt') as f:
        keys = sorted(line.split('.png')[0] for line in f)
    assert keys == [f'{name}_s00{i}' for name in ('astronaut', 'coffee', 'rocket') for i in range(1, 5)]

    # TensorBoard: loss, learning rate, validation PSNR/SSIM, validation images; the last validation is the model
    # that inference_rnan.py ran, on the same noisy file
    events = _events(workdir)
    assert sorted(events.Tags()['scalars']) == ['losses/l_pix', 'lr', 'metrics/HeldOut/psnr', 'metrics/HeldOut/ssim']
    assert events.Tags()['images'] == ['val_images/HeldOut/chelsea']
    learning_rates = [event.value for event in events.Scalars('lr')]
    assert len(learning_rates) == 3 and abs(learning_rates[0] - 1e-3) < 1e-9
    assert learning_rates[0] > learning_rates[1] > learning_rates[2] >= 1e-5  # cosine decay
    assert abs(events.Scalars('metrics/HeldOut/psnr')[-1].value - _psnr(restored, clean)) < 1e-3
    experiment = workdir / 'experiments' / NAME
    logs = sorted(glob.glob(str(experiment / 'train_*.log')))
    assert len(logs) == 1

    # second run, nothing changed: every step is reused, nothing is trained, the same figures
    out = _run(workdir, capfd)
    assert out.count('up to date') == 6  # 2 sample folders, sub-images, LMDB, noisy input, restored image
    assert 'reusing the complete model' in out and 'Start training' not in out
    assert _figures(out) == (noisy_psnr, restored_psnr, picture)
    assert sorted(glob.glob(str(experiment / 'train_*.log'))) == logs

    # the LMDB is gone and training stopped after its checkpoint at iteration 2: the LMDB is rebuilt (same inputs,
    # so the experiment stays valid) and training continues from iteration 2 instead of starting over
    shutil.rmtree(workdir / DATA / 'train_HR_sub.lmdb')
    os.remove(experiment / 'models' / 'net_g_latest.pth')
    out = _run(workdir, capfd)
    assert 'create_lmdb.py --input' in out and 'continuing it (--auto_resume)' in out
    assert 'Resuming training from epoch: 0, iter: 2' in out
    assert (experiment / 'models' / 'net_g_latest.pth').is_file()
    assert not glob.glob(str(workdir / '*' / f'{NAME}_archived_*'))
    assert len(glob.glob(str(experiment / 'train_*.log'))) == 2  # resuming starts a new log file
    # TensorBoard: the resumed run wrote a second events file; each iteration is shown once
    assert len(glob.glob(str(workdir / 'tb_logger' / NAME / 'events.out.tfevents.*'))) == 2
    assert [event.step for event in _events(workdir).Scalars('lr')] == [1, 2, 3]

    # --retrain: the previous experiment, TensorBoard run and results are kept under archived names, said so
    out = _run(workdir, capfd, '--retrain')
    assert '--retrain; the previous run is kept:' in out and 'Start training from epoch: 0, iter: 0' in out
    for kind in ('experiments', 'tb_logger', 'results'):
        archived = glob.glob(str(workdir / kind / f'{NAME}_archived_*'))
        assert len(archived) == 1 and f'{osp.basename(archived[0])}' in out
    assert len(glob.glob(str(experiment / 'train_*.log'))) == 1
    assert len(_events(workdir).Scalars('lr')) == 3
    assert _figures(out)[0] == noisy_psnr and (workdir / 'results' / NAME / 'strip.png').is_file()


def test_archive_run_keeps_the_previous_run_under_an_archived_name(tmp_path, capsys):
    for kind in ('experiments', 'tb_logger'):
        os.makedirs(tmp_path / kind / 'exp')
        (tmp_path / kind / 'exp' / 'file.txt').write_text(kind)
    os.makedirs(tmp_path / 'experiments' / 'exp_other')
    quickstart.archive_run(str(tmp_path), 'exp', '--retrain')
    quickstart.archive_run(str(tmp_path), 'exp', '--retrain')  # nothing left to archive: nothing happens
    out = capsys.readouterr().out
    assert '--retrain; the previous run is kept:' in out
    for kind in ('experiments', 'tb_logger'):
        assert not osp.exists(tmp_path / kind / 'exp')
        archived = glob.glob(str(tmp_path / kind / 'exp_archived_*'))
        assert len(archived) == 1 and open(osp.join(archived[0], 'file.txt')).read() == kind
        assert f'{kind}/exp -> ' in out
    assert osp.isdir(tmp_path / 'experiments' / 'exp_other')
    assert not osp.exists(tmp_path / 'results')


def test_the_readme_names_the_folder_basicsr_saves_validation_images_in():
    """BasicSR saves a validation image under visualization/<image name>/ (SRModel.nondist_validation), not under
    the dataset's name: the quickstart page's layout says so."""
    from conftest import ROOT
    with open(osp.join(ROOT, 'docs', 'quickstart.md'), encoding='utf-8') as f:
        page = f.read()
    held_out = quickstart.Setting(tiny=False).held_out[0]
    assert f'visualization/{held_out}/' in page and 'visualization/HeldOut/' not in page
