"""Bad input to the datasets: options and data, each a clear InputError naming the dataset, the file and the fix."""
import cv2
import os
import pytest
import shutil
from conftest import make_lmdb, write_images

from rnan_basicsr.data.demosaicing_dataset import DemosaicingDataset
from rnan_basicsr.data.denoising_dataset import DenoisingDataset
from rnan_basicsr.data.jpeg_artifact_dataset import JPEGArtifactDataset
from rnan_basicsr.options.dataset_rules import check_dataset_options
from rnan_basicsr.utils.errors import InputError


def opt_for(root, phase='train', cls=DenoisingDataset, **extra):
    opt = {'name': 'Tiny', 'type': cls.__name__, 'phase': phase, 'dataroot_gt': str(root)}
    opt['io_backend'] = {'type': 'disk'}
    if cls is DenoisingDataset:
        opt['sigma'] = 25
    if cls is JPEGArtifactDataset:
        opt['quality'] = 10
    if phase == 'train':
        opt.update(gt_size=16, batch_size_per_gpu=2, num_worker_per_gpu=0)
    opt.update(extra)
    return {k: v for k, v in opt.items() if v is not None}


def error_of(cls, opt, check_only=False):
    with pytest.raises(InputError) as info:
        check_dataset_options(cls, opt) if check_only else cls(opt)
    return str(info.value)


@pytest.fixture
def gt(tmp_path):
    write_images(tmp_path / 'gt', 2, 20, 20)
    return tmp_path / 'gt'


@pytest.mark.parametrize('changes, expected', [
    ({'sigmaa': 25}, ["datasets.train (Tiny): sigmaa is not an option of DenoisingDataset. Did you mean 'sigma'?"]),
    ({'gt_size': None}, ['datasets.train (Tiny): training needs gt_size; add gt_size: 48']),
    ({'gt_size': '48'}, ["datasets.train (Tiny): gt_size must be an integer, got '48' (YAML reads '48' as a string"]),
    ({'gt_size': 0}, ['datasets.train (Tiny): gt_size must be >= 1, got 0.']),
    ({'sigma': None}, ['datasets.train (Tiny): sigma is missing', 'e.g. sigma: 50']),
    ({'sigma': 0.1}, ['looks like a noise level on the [0, 1] scale', 'write 26 for 0.1']),
    ({'sigma': [50, 10]}, ['sigma as a range must be [low, high] with low <= high']),
    ({'sigma': 300}, ['sigma 300 is out of range: it must lie in 0..255']),
    ({'gray': 'yes'}, ["gray must be true or false, got 'yes'"]),
    ({'io_backend': {'type': 'memcached'}}, ["io_backend.type must be 'disk' or 'lmdb', got 'memcached'"]),
    ({'dataroot_gt': 'no/such/folder'}, ["dataroot_gt 'no/such/folder' does not exist"]),
    ({'dataroot_gt': None}, ['datasets.train (Tiny): dataroot_gt is missing; add it.']),
    ({'scale': 2}, ['is a DenoisingDataset, whose LQ and GT images have the same size, but scale is 2',
                    'PairedImageDataset']),
    ({'filename_tmpl': 'x'}, ["filename_tmpl must be a string with one '{}'"]),
    ({'phase': 'valid'}, ["phase must be one of train/val/test, got 'valid'"]),
])
def test_bad_options_are_reported_before_any_image_is_read(gt, changes, expected):
    message = error_of(DenoisingDataset, opt_for(gt, **changes), check_only=True)
    for part in expected:
        assert part in message


def test_bad_jpeg_quality_and_unknown_demosaic_key(gt):
    message = error_of(JPEGArtifactDataset, opt_for(gt, cls=JPEGArtifactDataset, quality=0), check_only=True)
    assert 'quality 0 is out of range: it must lie in 1..100' in message
    message = error_of(JPEGArtifactDataset, opt_for(gt, cls=JPEGArtifactDataset, quality=[10.5, 20]), check_only=True)
    assert 'datasets.train (Tiny): quality.0 must be an integer, got 10.5.' == message
    message = error_of(DemosaicingDataset, opt_for(gt, cls=DemosaicingDataset, sigma=10), check_only=True)
    assert "sigma is not an option of DemosaicingDataset" in message


def test_phase_key_in_messages_and_missing_phase(gt):
    message = error_of(DenoisingDataset, opt_for(gt, phase='val', sigma='x'), check_only=True)
    assert message.startswith('datasets.val (Tiny): sigma must be a number')
    message = error_of(DenoisingDataset, opt_for(gt, phase=None))
    assert 'phase is missing' in message


def test_empty_folder(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'notes.txt').write_text('not an image')
    message = error_of(DenoisingDataset, opt_for(tmp_path / 'empty'))
    assert "datasets.train (Tiny): dataroot_gt '" in message and 'contains no images' in message


def test_gt_smaller_than_gt_size_on_disk_and_in_lmdb(tmp_path, gt):
    write_images(tmp_path / 'gt', 1, 12, 30, prefix='small')
    message = error_of(DenoisingDataset, opt_for(gt))
    assert "GT image '" in message and "small000.png' is 30x12, smaller than gt_size 16" in message
    make_lmdb(gt, tmp_path / 'gt.lmdb')
    message = error_of(DenoisingDataset, opt_for(tmp_path / 'gt.lmdb', io_backend={'type': 'lmdb'}))
    assert "GT image 'small000' in '" in message and "gt.lmdb' is 30x12, smaller than gt_size 16" in message
    # validation does not crop: small images are fine there
    assert len(DenoisingDataset(opt_for(gt, phase='val'))) == 3


def test_unreadable_image_is_named_when_the_dataset_is_built(gt):
    (gt / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 5)
    (gt / 'text.jpg').write_text('not a jpeg')
    message = error_of(DenoisingDataset, opt_for(gt, phase='val'))
    assert message.endswith("broken.png' is truncated or damaged: it does not end with the IEND chunk every PNG ends "
                            'with, and it does not decode. Copy it again, or remove it.')
    os.remove(gt / 'broken.png')
    message = error_of(DenoisingDataset, opt_for(gt, phase='val'))
    assert message.startswith("datasets.val (Tiny): '") and message.endswith(
        "text.jpg' is not a readable image (corrupt, truncated or not an image); replace or remove it.")


def test_corrupt_pixels_are_named_when_read(gt):
    path = gt / 'img000.png'
    data = path.read_bytes()
    path.write_bytes(data[:60])  # a valid header, truncated pixel data: refused when the dataset is built
    assert 'is truncated or damaged' in error_of(DenoisingDataset, opt_for(gt, phase='val'))
    damaged = bytearray(data)
    damaged[60:80] = bytes(b ^ 0x55 for b in damaged[60:80])  # damaged pixel data, the end intact: found when read
    path.write_bytes(bytes(damaged))
    dataset = DenoisingDataset(opt_for(gt, phase='val'))
    with pytest.raises(InputError, match=r"img000.png' \(gt of datasets.val \(Tiny\)\) cannot be decoded"):
        dataset[0]


def test_same_name_twice(gt):
    cv2.imwrite(str(gt / 'img000.jpg'), cv2.imread(str(gt / 'img000.png')))
    message = error_of(DenoisingDataset, opt_for(gt))
    assert "'img000.jpg' and 'img000.png' have the same name 'img000'" in message


def test_lmdb_without_meta_info_and_with_a_missing_key(tmp_path, gt):
    make_lmdb(gt, tmp_path / 'gt.lmdb')
    meta = tmp_path / 'gt.lmdb' / 'meta_info.txt'
    text = meta.read_text()
    meta.write_text(text + 'ghost.png (20,20,3) 1\n')
    message = error_of(DenoisingDataset, opt_for(tmp_path / 'gt.lmdb', io_backend={'type': 'lmdb'}))
    assert "key 'ghost' is listed in meta_info.txt but the LMDB does not hold it" in message
    os.remove(meta)
    message = error_of(DenoisingDataset, opt_for(tmp_path / 'gt.lmdb', io_backend={'type': 'lmdb'}), check_only=True)
    assert 'has no meta_info.txt' in message and 'create_lmdb.py' in message
    message = error_of(DenoisingDataset, opt_for(tmp_path / 'gt.lmdb'), check_only=True)
    assert 'is an LMDB; set io_backend: {type: lmdb}' in message
    message = error_of(DenoisingDataset, opt_for(gt, io_backend={'type': 'lmdb'}), check_only=True)
    assert 'is not an LMDB (no data.mdb), but io_backend is lmdb' in message


def test_meta_info_file_listing_a_missing_image(tmp_path, gt):
    meta = tmp_path / 'meta.txt'
    meta.write_text('img000.png (20,20,3)\nimg009.png (20,20,3)\n')
    message = error_of(DenoisingDataset, opt_for(gt, meta_info_file=str(meta)))
    assert "'img009.png' is listed in meta_info_file" in message and 'does not exist' in message


@pytest.mark.parametrize('phase', ['train', 'val'])
def test_lq_and_gt_that_do_not_pair_up(tmp_path, gt, phase):
    shutil.copytree(gt, tmp_path / 'lq')
    os.remove(tmp_path / 'lq' / 'img001.png')
    message = error_of(DenoisingDataset, opt_for(gt, phase=phase, dataroot_lq=str(tmp_path / 'lq')))
    assert message.startswith(f'datasets.{phase} (Tiny): LQ and GT do not pair up: 1 of 2 GT images have no LQ image')
    assert "The first is GT 'img001.png' in dataroot_gt" in message and "whose LQ image should be 'img001'" in message
    shutil.copy(gt / 'img001.png', tmp_path / 'lq' / 'img001.png')
    shutil.copy(gt / 'img001.png', tmp_path / 'lq' / 'extra.png')
    message = error_of(DenoisingDataset, opt_for(gt, phase=phase, dataroot_lq=str(tmp_path / 'lq')))
    assert '1 images in dataroot_lq' in message and "The first is 'extra.png'" in message
    os.remove(tmp_path / 'lq' / 'extra.png')
    cv2.imwrite(str(tmp_path / 'lq' / 'img001.png'), cv2.imread(str(gt / 'img001.png'))[:10])
    message = error_of(DenoisingDataset, opt_for(gt, phase=phase, dataroot_lq=str(tmp_path / 'lq')))
    assert "img001.png' is 20x10 and its GT image" in message and 'is 20x20, which does not fit scale 1' in message
    assert 'both the same size' in message


def test_lq_lmdb_that_does_not_pair_up(tmp_path, gt):
    make_lmdb(gt, tmp_path / 'gt.lmdb')
    os.remove(gt / 'img000.png')
    make_lmdb(gt, tmp_path / 'lq.lmdb')
    opt = opt_for(tmp_path / 'gt.lmdb', phase='val', dataroot_lq=str(tmp_path / 'lq.lmdb'), io_backend={'type': 'lmdb'})
    message = error_of(DenoisingDataset, opt)
    assert "datasets.val (Tiny): LQ and GT do not pair up" in message and "The first is GT 'img000'" in message
