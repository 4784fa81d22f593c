"""The option files of the paper's experiments (options/train_RNAN_<EXP>.yml, options/test_RNAN_<EXP>.yml).

Every file is read by BasicSR's own ``parse_options`` and checked against the paper's protocol; then, in a folder laid
out as the README's data preparation makes it (tiny images, made by our own generate_lq.py and create_lmdb.py), each
unmodified file passes ``check_options``, and its network (with tiny overrides) and datasets are built and run on one
item. One ``basicsr test`` on a generated test file closes the loop. Other files in options/ (e.g. the quickstart's)
are not these tests' business.
"""
import contextlib
import cv2
import numpy as np
import os
import pytest
import random
import re
import sys
import torch
from conftest import ROOT, run_basicsr, write_images
from os import path as osp

from rnan_basicsr.command.preflight import _root_logger_untouched, check_options
from rnan_basicsr.options.loader import load_option_file
from rnan_basicsr.utils.errors import InputError

OPTIONS = osp.join(ROOT, 'options')

# the paper's experiments and protocol, written out here independently of rnan_basicsr.tasks (a test oracle)
TASKS = {
    'DN_RGB': dict(levels=(10, 30, 50, 70), channels=3, epochs=1300, type='DenoisingDataset',
                   test_sets=['Kodak24', 'CBSD68', 'Urban100'], y=False),
    'DN_Gray': dict(levels=(10, 30, 50, 70), channels=1, epochs=1300, type='DenoisingDataset',
                    test_sets=['Kodak24', 'BSD68', 'Urban100'], y=False),
    'CAR': dict(levels=(10, 20, 30, 40), channels=1, epochs=1300, type='JPEGArtifactDataset',
                test_sets=['LIVE1', 'Classic5'], y=True),
    'Demosaic': dict(levels=(None, ), channels=3, epochs=1300, type='DemosaicingDataset',
                     test_sets=['McMaster', 'Kodak24', 'CBSD68', 'Urban100'], y=False),
    'SR': dict(levels=(2, 3, 4), channels=3, epochs=3000, type='PairedImageDataset',
               test_sets=['Set5', 'Set14', 'B100', 'Urban100', 'Manga109'], y=True),
}


def _name(task, level):
    return {'DN_RGB': f'DN_RGB_sigma{level}', 'DN_Gray': f'DN_Gray_sigma{level}', 'CAR': f'CAR_q{level}',
            'Demosaic': 'Demosaic', 'SR': f'SR_x{level}'}[task]


EXPERIMENTS = {_name(task, level): (task, level) for task, spec in TASKS.items() for level in spec['levels']}
FILES = [(kind, exp) for exp in EXPERIMENTS for kind in ('train', 'test')]
IDS = [f'{kind}_RNAN_{exp}' for kind, exp in FILES]


def option_path(kind, exp):
    return osp.join(OPTIONS, f'{kind}_RNAN_{exp}.yml')


@contextlib.contextmanager
def _one_thread():
    """Tiny networks gain nothing from threads, and on a busy machine each convolution would wait for the others."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _rng_and_logger_kept():
    """parse_options seeds every generator, build_dataset sets BasicSR's logger up: undo both for later tests."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        with _root_logger_untouched():
            yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def parse(kind, exp, root, monkeypatch):
    """The options as BasicSR's parse_options returns them (phase and scale filled in, ``auto`` resolved)."""
    from basicsr.utils.options import parse_options

    monkeypatch.setattr(sys, 'argv', ['basicsr', '-opt', option_path(kind, exp)])
    with _rng_and_logger_kept():
        opt, _ = parse_options(str(root), is_train=kind == 'train')
    return opt


# ---------------------------------------------------------------------------------------------------------------
# a folder laid out as the README's data preparation makes it, with tiny images
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def paper_layout(tmp_path_factory):
    """datasets/ (DIV2K LMDBs and every test set, made by create_lmdb.py / generate_lq.py as the README says) and
    experiments/pretrained_models/RNAN_<EXP>.pth (tiny initialised networks)."""
    from basicsr.archs import build_network

    root = tmp_path_factory.mktemp('paper_layout')
    data = root / 'datasets'
    from rnan_basicsr.tools import create_lmdb, generate_lq

    def run(script, *argv):
        with contextlib.redirect_stdout(open(os.devnull, 'w')), contextlib.redirect_stderr(open(os.devnull, 'w')):
            assert script.main([str(a) for a in argv] + ['--n_thread', '1']) == 0, argv

    # training: DIV2K sub-images in an LMDB; for SR, HR/LR sub-image LMDBs with the same keys
    write_images(data / 'DIV2K' / 'DIV2K_train_HR_sub', 2, 56, 60, prefix='0001_s')
    run(create_lmdb, '--input', data / 'DIV2K' / 'DIV2K_train_HR_sub', '--output',
        data / 'DIV2K' / 'DIV2K_train_HR_sub.lmdb')
    write_images(root / 'hr', 1, 192, 192, prefix='0001_s', seed=5)
    for s in (2, 3, 4):
        run(generate_lq, '--task', 'sr', '--scale', s, '--input', root / 'hr', '--output', root / f'lr_x{s}')
        run(create_lmdb, '--input', root / 'hr', root / f'lr_x{s}', '--output',
            data / 'DIV2K' / f'DIV2K_train_HR_sub_x{s}.lmdb', data / 'DIV2K' / f'DIV2K_train_LR_bicubic_X{s}_sub.lmdb')

    # test sets: one clean image each in datasets/<set>/HQ (Classic5 is grey), the inputs made by generate_lq.py
    for i, name in enumerate(['Kodak24', 'CBSD68', 'Urban100', 'LIVE1', 'Classic5', 'McMaster', 'Set5', 'Set14', 'B100',
                              'Manga109']):
        write_images(data / name / 'HQ', 1, 24, 36, channels=1 if name == 'Classic5' else 3, seed=10 + i,
                     prefix=f'{name.lower()}_')
    for sigma in (10, 30, 50, 70):
        for name in TASKS['DN_RGB']['test_sets']:
            run(generate_lq, '--task', 'denoise', '--sigma', sigma, '--seed', 0, '--input', data / name / 'HQ',
                '--output', data / name / f'N{sigma}')
        for name, source in (('Kodak24', 'Kodak24'), ('BSD68', 'CBSD68'), ('Urban100', 'Urban100')):
            gt = ['--gt_output', data / f'{name}_gray' / 'HQ'] if sigma == 10 else []
            run(generate_lq, '--task', 'denoise', '--sigma', sigma, '--seed', 0, '--gray', '--input',
                data / source / 'HQ', '--output', data / f'{name}_gray' / f'N{sigma}', *gt)
    for quality in (10, 20, 30, 40):
        for name in TASKS['CAR']['test_sets']:
            gt = ['--gt_output', data / name / 'Y'] if quality == 10 else []
            run(generate_lq, '--task', 'jpeg', '--quality', quality, '--input', data / name / 'HQ', '--output',
                data / name / f'Q{quality}', *gt)
    for name in TASKS['Demosaic']['test_sets']:
        run(generate_lq, '--task', 'demosaic', '--input', data / name / 'HQ', '--output', data / name / 'mosaic')
    for s in (2, 3, 4):
        for name in TASKS['SR']['test_sets']:
            run(generate_lq, '--task', 'sr', '--scale', s, '--input', data / name / 'HQ', '--output',
                data / name / f'LRbicx{s}', '--gt_output', data / name / f'GTmod{s}')

    # weights: a tiny initialised network per experiment (check_options needs the files; the basicsr test loads one)
    os.makedirs(root / 'experiments' / 'pretrained_models')
    torch.manual_seed(0)
    for exp, (task, level) in EXPERIMENTS.items():
        channels = TASKS[task]['channels']
        net = build_network(dict(type='RNAN', num_in_ch=channels, num_out_ch=channels, num_feat=8, num_group=2,
                                 upscale=level if task == 'SR' else 1))
        torch.save({'params': net.state_dict()}, root / 'experiments' / 'pretrained_models' / f'RNAN_{exp}.pth')
    return root


# ---------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------
def test_every_experiment_has_its_two_files():
    missing = [f'{kind}_RNAN_{exp}.yml' for kind, exp in FILES if not osp.isfile(option_path(kind, exp))]
    assert not missing
    assert len(FILES) == 32  # 16 experiments: DN_RGB x4, DN_Gray x4, CAR x4, Demosaic, SR x3


@pytest.mark.parametrize('kind,exp', FILES, ids=IDS)
def test_parses_with_basicsr_and_follows_the_paper(kind, exp, tmp_path, monkeypatch):
    task, level = EXPERIMENTS[exp]
    spec = TASKS[task]
    scale = level if task == 'SR' else 1
    opt = parse(kind, exp, tmp_path, monkeypatch)
    assert not os.listdir(tmp_path)  # parse_options creates nothing

    assert opt['model_type'] == 'RNANModel' and opt['scale'] == scale
    assert opt['network_g'] == dict(type='RNAN', num_in_ch=spec['channels'], num_out_ch=spec['channels'], num_feat=64,
                                    num_group=10, upscale=scale, nl_softmax='query')
    crop = scale if task == 'SR' else 0
    for metric in ('psnr', 'ssim'):
        assert opt['val']['metrics'][metric] == dict(type=f'calculate_{metric}', crop_border=crop,
                                                     test_y_channel=spec['y'])
    assert opt['val']['tile'] is None and opt['val']['self_ensemble'] is False

    datasets = opt['datasets']
    evaluated = [d for key, d in datasets.items() if key != 'train']
    for dataset in evaluated:
        assert dataset['type'] == spec['type'] and dataset['name'] in spec['test_sets']
        assert dataset['io_backend'] == {'type': 'disk'} and dataset['dataroot_lq']  # the fixed inputs
        if task in ('DN_RGB', 'DN_Gray'):
            assert dataset['sigma'] == level and dataset['gray'] is (task == 'DN_Gray')
        if task == 'DN_Gray':  # grey GT as generate_lq.py --gray --gt_output writes it
            assert dataset['dataroot_gt'] == f'datasets/{dataset["name"]}_gray/HQ'
        if task == 'CAR':  # Y GT as generate_lq.py --task jpeg --gt_output writes it
            assert dataset['quality'] == level and dataset['dataroot_gt'] == f'datasets/{dataset["name"]}/Y'

    if kind == 'test':
        assert [d['name'] for d in evaluated] == spec['test_sets'] and list(datasets) == [
            f'test_{i}' for i in range(1, len(spec['test_sets']) + 1)]
        assert opt['path']['pretrain_network_g'] == f'experiments/pretrained_models/RNAN_{exp}.pth'
        assert opt['path']['param_key_g'] == 'params' and opt['path']['strict_load_g'] is True
        assert opt['val']['save_img'] is True
        return

    assert list(datasets) == ['train', 'val'] and opt['name'] == f'RNAN_{exp}'
    train = datasets['train']
    assert train['type'] == spec['type'] and train['phase'] == 'train' and train['io_backend'] == {'type': 'lmdb'}
    assert train['batch_size_per_gpu'] == 16 and train['gt_size'] == 48 * scale
    assert train['use_hflip'] is True and train['use_rot'] is True
    if task == 'SR':
        assert train['dataroot_gt'] == f'datasets/DIV2K/DIV2K_train_HR_sub_x{scale}.lmdb'
        assert train['dataroot_lq'] == f'datasets/DIV2K/DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'
    else:
        assert train['dataroot_gt'] == 'datasets/DIV2K/DIV2K_train_HR_sub.lmdb' and 'dataroot_lq' not in train
    if task in ('DN_RGB', 'DN_Gray'):
        assert train['sigma'] == level and train['gray'] is (task == 'DN_Gray') and train['clip'] is True
    if task == 'CAR':
        assert train['quality'] == level

    schedule = opt['train']
    # Adam is invariant to the loss scale but for eps: the authors' eps 1e-8 with a loss on [0, 255]^2
    assert schedule['optim_g'] == dict(type='Adam', lr=1e-4, weight_decay=0, betas=[0.9, 0.999],
                                       eps=pytest.approx(1e-8 / 255**2, rel=1e-5))
    assert schedule['total_iter'] == spec['epochs'] * 1000
    assert schedule['scheduler'] == dict(type='MultiStepLR', gamma=0.5,
                                         milestones=list(range(200000, spec['epochs'] * 1000, 200000)))
    assert schedule['pixel_opt']['type'] == 'MSELoss' and schedule['ema_decay'] == 0
    assert opt['logger']['use_tb_logger'] is True and opt['val']['save_img'] is False


def test_check_options_names_the_missing_training_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = option_path('train', 'DN_Gray_sigma50')
    with pytest.raises(InputError, match='DIV2K_train_HR_sub.lmdb'):
        check_options(load_option_file(path), path, is_train=True)


@pytest.mark.parametrize('kind,exp', FILES, ids=IDS)
def test_checks_and_builds_on_the_readme_layout(kind, exp, paper_layout, monkeypatch):
    """With only its network shrunk to the tiny stand-in weights' size (the pre-flight checks that the weights fit),
    the file passes check_options where the data is; its network restores its datasets' items."""
    from basicsr.archs import build_network
    from basicsr.data import build_dataset

    monkeypatch.chdir(paper_layout)
    opt = load_option_file(option_path(kind, exp))
    opt['network_g'].update(num_feat=8, num_group=2)
    check_options(opt, option_path(kind, exp), is_train=kind == 'train')

    opt = parse(kind, exp, paper_layout, monkeypatch)
    task, level = EXPERIMENTS[exp]
    channels, scale = TASKS[task]['channels'], opt['scale']
    net = build_network(dict(opt['network_g'], num_feat=8, num_group=2)).eval()
    for key, dataset_opt in opt['datasets'].items():
        with _rng_and_logger_kept():
            dataset = build_dataset(dataset_opt)
            item = dataset[0]
        assert len(dataset) == (2 if key == 'train' and task != 'SR' else 1)
        lq, gt = item['lq'], item['gt']
        assert lq.shape[0] == gt.shape[0] == channels, key
        if key == 'train':
            assert tuple(lq.shape[1:]) == (48, 48) and tuple(gt.shape[1:]) == (48 * scale, 48 * scale)
        with torch.no_grad(), _one_thread():
            out = net(lq[None])
        assert out.shape[1:] == gt.shape and torch.isfinite(out).all(), key


@pytest.mark.slow
def test_basicsr_test_on_a_generated_test_file(paper_layout):
    """`basicsr test` of test_RNAN_DN_Gray_sigma50.yml (tiny network via --force_yml) writes every set's images and
    logs PSNR / SSIM equal to those of the written images against the grey ground truth."""
    from basicsr.metrics import calculate_psnr

    exp = 'DN_Gray_sigma50'
    result = run_basicsr(['test', '-opt', option_path('test', exp), '--force_yml', 'num_gpu=0', 'network_g:num_feat=8',
                          'network_g:num_group=2'], cwd=paper_layout, env={'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stderr[-3000:]
    results = paper_layout / 'results' / f'RNAN_{exp}'
    log = ''.join(path.read_text() for path in results.glob('*.log'))
    for name in TASKS['DN_Gray']['test_sets']:
        gt_dir = paper_layout / 'datasets' / f'{name}_gray' / 'HQ'
        (gt_file, ) = os.listdir(gt_dir)
        stem = osp.splitext(gt_file)[0]
        restored = cv2.imread(str(results / 'visualization' / name / f'{stem}_RNAN_{exp}.png'), cv2.IMREAD_UNCHANGED)
        gt = cv2.imread(str(gt_dir / gt_file), cv2.IMREAD_UNCHANGED)
        assert restored is not None and restored.shape == gt.shape == (24, 36)  # one grey channel, whole image
        match = re.search(rf'Validation {name}\n\s*# psnr: ([\d.]+)[^\n]*\n\s*# ssim: ([\d.]+)', log)
        assert match, log[-2000:]
        assert float(match.group(1)) == pytest.approx(calculate_psnr(restored, gt, crop_border=0), abs=1e-3)
