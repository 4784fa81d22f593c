"""Done-when of the data issue: each of the three datasets trains (and validates) a tiny RNAN through `basicsr train`
from LMDBs made by create_lmdb.py. The three runs go in parallel to keep the suite short."""
import os
import pytest
import subprocess
import yaml
from conftest import BASICSR, TEST_OPTIONS, make_lmdb, write_images
from os import path as osp

RUNS = {
    'denoise': ({'type': 'DenoisingDataset', 'sigma': [10, 50]}, {'type': 'DenoisingDataset', 'sigma': 30}, 3),
    'jpeg': ({'type': 'JPEGArtifactDataset', 'quality': [10, 40]}, {'type': 'JPEGArtifactDataset', 'quality': 10}, 1),
    'demosaic': ({'type': 'DemosaicingDataset'}, {'type': 'DemosaicingDataset'}, 3),
}


def _options(task, train_lmdb, val_lmdb):
    train_extra, val_extra, channels = RUNS[task]
    with open(osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = f'tiny_{task}'
    opt['datasets'] = {
        'train': {
            'name': f'Train_{task}', 'dataroot_gt': str(train_lmdb), 'io_backend': {'type': 'lmdb'}, 'gt_size': 16,
            'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
            'dataset_enlarge_ratio': 1, 'prefetch_mode': None, **train_extra
        },
        'val': {'name': f'Val_{task}', 'dataroot_gt': str(val_lmdb), 'io_backend': {'type': 'lmdb'}, **val_extra},
    }
    opt['network_g'].update(num_in_ch=channels, num_out_ch=channels, num_feat=8, num_group=2)
    opt['train']['total_iter'] = 2
    opt['val']['val_freq'] = 2
    opt['logger'].update(save_checkpoint_freq=2, use_tb_logger=False)
    return opt


@pytest.mark.slow
def test_each_dataset_trains_a_tiny_rnan_from_lmdb(tmp_path):
    write_images(tmp_path / 'train', 4, 24, 24, seed=0)
    write_images(tmp_path / 'val', 1, 20, 18, seed=100)
    make_lmdb(tmp_path / 'train', tmp_path / 'train.lmdb')
    make_lmdb(tmp_path / 'val', tmp_path / 'val.lmdb')
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    processes = {}
    for task in RUNS:
        option_file = tmp_path / f'{task}.yml'
        option_file.write_text(yaml.safe_dump(_options(task, tmp_path / 'train.lmdb', tmp_path / 'val.lmdb')))
        processes[task] = subprocess.Popen([BASICSR, 'train', '-opt', str(option_file)],
                                           cwd=tmp_path,
                                           env=env,
                                           stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE,
                                           text=True)
    for task, process in processes.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f'{task}: {stderr[-3000:]}'
        dataset_type = RUNS[task][0]['type']
        assert f'Dataset [{dataset_type}] - Train_{task} is built.' in stderr
        assert f'Validation Val_{task}' in stderr and '# psnr:' in stderr
        assert osp.isfile(tmp_path / 'experiments' / f'tiny_{task}' / 'models' / 'net_g_2.pth')
