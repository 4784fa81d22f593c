"""DenoisingDataset, JPEGArtifactDataset, DemosaicingDataset from folders and LMDBs: items, degradations, seeding."""
import cv2
import numpy as np
import pytest
import random
import torch
from conftest import make_lmdb, write_images
from os import path as osp

from rnan_basicsr.data.degradations import (add_gaussian_noise, bayer_mosaic, image_rng, jpeg_compress_y, to_gray,
                                            y_channel)
from rnan_basicsr.data.demosaicing_dataset import DemosaicingDataset
from rnan_basicsr.data.denoising_dataset import DenoisingDataset
from rnan_basicsr.data.jpeg_artifact_dataset import JPEGArtifactDataset

TASKS = {
    'denoise': (DenoisingDataset, {'sigma': 30}, 3),
    'denoise_gray': (DenoisingDataset, {'sigma': [5, 50], 'gray': True}, 1),
    'jpeg': (JPEGArtifactDataset, {'quality': 20}, 1),
    'demosaic': (DemosaicingDataset, {}, 3),
}


def make_opt(cls, phase, root, backend='disk', **extra):
    opt = {'name': 'Tiny', 'type': cls.__name__, 'phase': phase, 'dataroot_gt': str(root)}
    opt['io_backend'] = {'type': backend}
    if phase == 'train':
        opt.update(gt_size=16, use_hflip=True, use_rot=True, batch_size_per_gpu=2, num_worker_per_gpu=0)
    opt.update(extra)
    return opt


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """gt/: 3 colour PNGs of 24x20 and a grey one in a subfolder; gt.lmdb: the same, made by create_lmdb.py."""
    root = tmp_path_factory.mktemp('datasets')
    write_images(root / 'gt', 3, 24, 20, seed=10)
    write_images(root / 'gt' / 'sub', 1, 24, 20, channels=1, seed=20, prefix='gray')
    make_lmdb(root / 'gt', root / 'gt.lmdb')
    return root


def _gt_bgr(root, key):
    return cv2.imread(str(root / 'gt' / f'{key}.png'), cv2.IMREAD_ANYCOLOR)


@pytest.mark.parametrize('backend', ['disk', 'lmdb'])
@pytest.mark.parametrize('task', sorted(TASKS))
def test_items_from_folder_and_lmdb(data, task, backend):
    cls, extra, channels = TASKS[task]
    root = data / ('gt' if backend == 'disk' else 'gt.lmdb')
    for phase, size in (('train', (16, 16)), ('val', (24, 20))):
        dataset = cls(make_opt(cls, phase, root, backend, **extra))
        assert len(dataset) == 4 and cls.num_channels(dataset.opt) == channels
        for index in range(len(dataset)):
            item = dataset[index]
            assert set(item) == {'lq', 'gt', 'lq_path', 'gt_path'}
            for name in ('lq', 'gt'):
                assert item[name].dtype == torch.float32 and item[name].shape == (channels, *size)
                assert 0 <= item[name].min() and item[name].max() <= 1
            assert item['lq_path'] == item['gt_path']  # made on the fly from this GT
            assert not torch.equal(item['lq'], item['gt'])
    keys = [entry['key'] for entry in dataset.paths]
    assert keys == ['img000', 'img001', 'img002', 'sub/gray000']


@pytest.mark.parametrize('task', sorted(TASKS))
def test_validation_is_reproducible_and_the_same_from_folder_and_lmdb(data, task):
    cls, extra, _ = TASKS[task]
    from_disk = cls(make_opt(cls, 'val', data / 'gt', **extra))
    again = cls(make_opt(cls, 'val', data / 'gt', **extra))
    from_lmdb = cls(make_opt(cls, 'val', data / 'gt.lmdb', 'lmdb', **extra))
    for index in range(len(from_disk)):
        item = from_disk[index]
        for other in (again[index], from_lmdb[index], from_disk[index]):
            assert torch.equal(item['lq'], other['lq']) and torch.equal(item['gt'], other['gt'])


def test_validation_noise_is_seeded_per_image_and_by_the_seed_option(data):
    opt = make_opt(DenoisingDataset, 'val', data / 'gt', sigma=15)
    dataset = DenoisingDataset(opt)
    item = dataset[0]
    clean = _gt_bgr(data, 'img000')
    expected = add_noise_rgb(clean, 15, image_rng(0, 'img000'))
    assert torch.equal(item['lq'], expected)
    assert not torch.equal(DenoisingDataset(dict(opt, seed=1))[0]['lq'], item['lq'])
    residual = (dataset[1]['lq'] - dataset[1]['gt']) * 255
    assert abs(residual.std().item() - 15) < 1.0


def add_noise_rgb(bgr, sigma, rng):
    noisy = add_gaussian_noise(bgr, sigma, rng)
    return torch.from_numpy(noisy[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255.)


def test_training_noise_is_fresh_per_patch_and_follows_random_seed(tmp_path):
    write_images(tmp_path / 'gt', 1, 16, 16)  # gt_size 16: the crop is the whole image
    opt = make_opt(DenoisingDataset, 'train', tmp_path / 'gt', sigma=25, use_hflip=False, use_rot=False)
    dataset = DenoisingDataset(opt)
    random.seed(0)  # BasicSR seeds Python's random per process and per data-loader worker
    first, second = dataset[0], dataset[0]
    assert torch.equal(first['gt'], second['gt'])
    assert not torch.equal(first['lq'], second['lq'])
    random.seed(0)
    assert torch.equal(dataset[0]['lq'], first['lq'])


def test_blind_sigma_range_is_drawn_per_image(data):
    dataset = DenoisingDataset(make_opt(DenoisingDataset, 'val', data / 'gt', sigma=[5, 50], gray=True))
    stds = [((item['lq'] - item['gt']) * 255).std().item() for item in (dataset[i] for i in range(len(dataset)))]
    assert all(3 < s < 53 for s in stds) and max(stds) - min(stds) > 1


def test_gray_denoising_converts_colour_ground_truth(data):
    item = DenoisingDataset(make_opt(DenoisingDataset, 'val', data / 'gt', sigma=10, gray=True))[0]
    expected = to_gray(_gt_bgr(data, 'img000'))[..., 0].astype(np.float32) / 255.
    assert item['gt'].shape[0] == 1 and np.array_equal(item['gt'][0].numpy(), expected)


def test_colour_denoising_of_a_grey_image_has_three_equal_channels(data):
    dataset = DenoisingDataset(make_opt(DenoisingDataset, 'val', data / 'gt', sigma=10))
    gt = dataset[3]['gt']
    assert dataset.paths[3]['key'] == 'sub/gray000' and torch.equal(gt[0], gt[1]) and torch.equal(gt[1], gt[2])


def test_unclipped_noise_leaves_the_unit_range(data):
    item = DenoisingDataset(make_opt(DenoisingDataset, 'val', data / 'gt', sigma=70, clip=False))[0]
    assert item['lq'].min() < 0 and item['lq'].max() > 1
    assert not torch.equal(item['lq'] * 255, torch.round(item['lq'] * 255))


def test_jpeg_items_are_the_y_channel_and_its_opencv_jpeg(data):
    dataset = JPEGArtifactDataset(make_opt(JPEGArtifactDataset, 'val', data / 'gt', quality=20))
    item = dataset[0]
    y = y_channel(_gt_bgr(data, 'img000'))
    assert np.array_equal(item['gt'][0].numpy(), y[..., 0] / np.float32(255))
    assert np.array_equal(item['lq'][0].numpy(), jpeg_compress_y(y, 20)[..., 0] / np.float32(255))
    gray_item = dataset[3]  # a grey image is compressed as it is, without the 16-235 offset
    gray = cv2.imread(str(data / 'gt' / 'sub' / 'gray000.png'), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(gray_item['gt'][0].numpy(), gray / np.float32(255))


@pytest.mark.parametrize('phase', ['train', 'val'])
def test_demosaicing_items_keep_the_grbg_pattern_in_rgb_tensors(data, phase):
    dataset = DemosaicingDataset(make_opt(DemosaicingDataset, phase, data / 'gt'))
    random.seed(3)
    for index in range(3):
        item = dataset[index]
        lq, gt = item['lq'], item['gt']
        mask = torch.zeros_like(gt, dtype=torch.bool)
        mask[1, 0::2, 0::2] = mask[0, 0::2, 1::2] = mask[2, 1::2, 0::2] = mask[1, 1::2, 1::2] = True  # R=0 G=1 B=2
        assert torch.equal(lq[mask], gt[mask]) and torch.all(lq[~mask] == 0)
    if phase == 'val':
        bgr = _gt_bgr(data, 'img000')
        expected = bayer_mosaic(bgr)[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255.
        assert np.array_equal(dataset[0]['lq'].numpy(), expected)


def test_pre_generated_lq_is_read_and_paired_by_name(tmp_path):
    gt_paths = write_images(tmp_path / 'gt', 2, 24, 24, seed=30)
    lq_dir = tmp_path / 'lq'
    lq_dir.mkdir()
    for path in gt_paths:
        name = osp.splitext(osp.basename(path))[0]
        cv2.imwrite(str(lq_dir / f'{name}_noisy.png'), 255 - cv2.imread(path))
    opt = make_opt(DenoisingDataset, 'val', tmp_path / 'gt', dataroot_lq=str(lq_dir), filename_tmpl='{}_noisy')
    dataset = DenoisingDataset(opt)  # no sigma needed: the degradation is read
    item = dataset[1]
    assert item['lq_path'] == osp.join(str(lq_dir), 'img001_noisy.png')
    assert torch.allclose(item['lq'], 1 - item['gt'])
    train = DenoisingDataset(dict(opt, phase='train', gt_size=8, batch_size_per_gpu=1, num_worker_per_gpu=0))
    item = train[0]
    assert item['lq'].shape == (3, 8, 8) and torch.allclose(item['lq'], 1 - item['gt'])  # cropped together


@pytest.mark.parametrize('task', sorted(TASKS))
def test_training_crops_first_and_gives_what_converting_the_whole_image_first_gives(data, task):
    """Training converts and degrades only the patch; the conversions are per pixel, so items equal those of the
    former order (whole image converted, then cropped, augmented and degraded) for the same random state."""
    from basicsr.data.transforms import augment, paired_random_crop
    from basicsr.utils import img2tensor

    cls, extra, _ = TASKS[task]
    dataset = cls(make_opt(cls, 'train', data / 'gt', **extra))
    for index in range(len(dataset)):
        random.seed(index)
        item = dataset[index]
        random.seed(index)
        entry = dataset.paths[index]
        whole = dataset._read(entry['gt_path'], 'gt')  # converted first
        gt = paired_random_crop(whole, whole, 16, 1, entry['gt_path'])[0]
        gt = augment(np.ascontiguousarray(gt), True, True)
        lq = dataset.degrade(gt, np.random.default_rng(random.getrandbits(64)))
        lq = lq if lq.ndim == 3 else lq[..., None]
        expected_gt, expected_lq = img2tensor([gt.astype(np.float32) / 255., lq.astype(np.float32) / 255.],
                                              bgr2rgb=True, float32=True)
        assert torch.equal(item['gt'], expected_gt) and torch.equal(item['lq'], expected_lq)
