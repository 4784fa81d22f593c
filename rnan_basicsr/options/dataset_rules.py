"""The rules of our restoration datasets' options (DenoisingDataset, JPEGArtifactDataset, DemosaicingDataset):
known keys, types and ranges, the data roots, and each task's level (``sigma`` / ``quality``).

Run by the ``basicsr`` command's pre-flight without reading any image, and by
:class:`~rnan_basicsr.data.degraded_image_dataset.DegradedImageDataset` when built directly. Each function raises an
:class:`~rnan_basicsr.utils.errors.InputError` starting with the dataset's label and naming the key and the fix.
"""
from os import path as osp

from rnan_basicsr.data.data_util import is_lmdb
from rnan_basicsr.data.degraded_image_dataset import PHASES, dataset_label
from rnan_basicsr.tasks import QUALITY, SIGMA
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import check_bool, check_int, check_level, check_path_exists, did_you_mean, is_number

COMMON_OPTIONS = ('name', 'type', 'phase', 'scale', 'dataroot_gt', 'dataroot_lq', 'io_backend', 'meta_info_file',
                  'filename_tmpl', 'gt_size', 'use_hflip', 'use_rot', 'seed', 'batch_size_per_gpu',
                  'num_worker_per_gpu', 'dataset_enlarge_ratio', 'prefetch_mode', 'pin_memory', 'persistent_workers',
                  'num_prefetch_queue')
BACKENDS = ('disk', 'lmdb')


def check_dataset_options(cls, opt):
    """Check the options ``opt`` of the dataset class ``cls`` (a DegradedImageDataset) without reading any image.

    Checks unknown keys (with a "did you mean"), types and ranges, that the data roots exist (LMDBs with
    meta_info.txt), for ``phase: train`` the training keys, then the task's own keys (:data:`TASK_RULES`). BasicSR
    sets ``phase`` from the datasets key; without it, training-only keys are checked only where present.
    """
    label = dataset_label(opt)
    if not isinstance(opt, dict):
        raise InputError(f'{label}: the dataset options must be a mapping, got {type(opt).__name__}')
    known = tuple(COMMON_OPTIONS) + tuple(cls.task_options)
    for key in opt:
        if key not in known:
            raise InputError(f'{label}: unknown option {key!r} for {cls.__name__}.{did_you_mean(key, known)} '
                             'Known options: '
                             f'{", ".join(sorted(known))}.')
    phase = opt.get('phase')
    if phase is not None and phase not in PHASES:
        raise InputError(f'{label}: phase must be one of {"/".join(PHASES)}, got {phase!r}')
    if opt.get('scale', 1) != 1:
        raise InputError(f'{label}: {cls.__name__} restores at scale 1, but scale is {opt["scale"]!r}. Set '
                         'scale: 1, or use PairedImageDataset (HR and bicubic-LR pairs) for super-resolution.')
    if opt.get('name') is not None and not isinstance(opt['name'], str):
        raise InputError(f'{label}: name must be a string, got {opt["name"]!r}')

    backend = check_io_backend(opt, label)
    check_roots(opt, label, backend)

    tmpl = opt.get('filename_tmpl', '{}')
    if not isinstance(tmpl, str) or tmpl.count('{}') != 1:
        raise InputError(f"{label}: filename_tmpl must be a string with one '{{}}' for the GT name, got {tmpl!r}; "
                         "e.g. filename_tmpl: '{}' (same names) or '{}_noisy'")
    if phase == 'train':
        for key, example in (('gt_size', 48), ('batch_size_per_gpu', 16), ('num_worker_per_gpu', 4)):
            if opt.get(key) is None:
                raise InputError(f'{label}: training needs {key}; add {key}: {example}')
    for key, minimum, example in (('gt_size', 1, 48), ('batch_size_per_gpu', 1, 16), ('num_worker_per_gpu', 0, 4),
                                  ('seed', 0, 0), ('num_prefetch_queue', 1, 1)):
        if opt.get(key) is not None:
            check_int(opt, key, label, minimum, example)
    for key in ('use_hflip', 'use_rot', 'pin_memory', 'persistent_workers'):
        check_bool(opt, key, label)
    ratio = opt.get('dataset_enlarge_ratio', 1)
    if not is_number(ratio) or ratio <= 0:
        raise InputError(f'{label}: dataset_enlarge_ratio must be a positive number, got {ratio!r}')
    if opt.get('prefetch_mode') not in (None, 'cpu', 'cuda'):
        raise InputError(f"{label}: prefetch_mode must be ~, cpu or cuda, got {opt['prefetch_mode']!r}")
    task_rule = TASK_RULES.get(cls.__name__)
    if task_rule is not None:
        task_rule(opt, label)


def check_io_backend(opt, label):
    """``io_backend``: ``{type: disk}`` or ``{type: lmdb}``; returns the type."""
    io_backend = opt.get('io_backend', {'type': 'disk'})
    if not isinstance(io_backend, dict) or io_backend.get('type') not in BACKENDS:
        raise InputError(f'{label}: io_backend must be {{type: disk}} (image folders) or {{type: lmdb}} (LMDBs '
                         f'made by create_lmdb.py), got {io_backend!r}')
    if io_backend['type'] == 'disk' and set(io_backend) != {'type'}:
        raise InputError(f'{label}: io_backend type disk takes no other keys, got {sorted(io_backend)}')
    for key in ('db_paths', 'client_keys'):
        if key in io_backend:
            raise InputError(f'{label}: io_backend.{key} is set by the dataset from dataroot_gt/dataroot_lq; '
                             'remove it.')
    return io_backend['type']


def check_roots(opt, label, backend):
    """``dataroot_gt`` (required), ``dataroot_lq`` and ``meta_info_file`` exist and fit the ``backend``."""
    if opt.get('dataroot_gt') is None:
        raise InputError(f'{label}: dataroot_gt is missing; set it to the ground-truth image folder or LMDB, e.g. '
                         'dataroot_gt: datasets/DIV2K/DIV2K_train_HR_sub.lmdb')
    for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
        value = opt.get(key)
        if value is None:
            continue
        kind = 'meta_info file' if key == 'meta_info_file' else 'folder or .lmdb'
        check_path_exists(value, key, label, kind=kind)
        if key == 'meta_info_file':
            if backend == 'lmdb':
                raise InputError(f"{label}: meta_info_file is for io_backend disk; an LMDB's own meta_info.txt "
                                 'lists its images. Remove meta_info_file.')
            if not osp.isfile(value):
                raise InputError(f'{label}: meta_info_file {value!r} is not a file.')
            continue
        if not osp.isdir(value):
            raise InputError(f'{label}: {key} {value!r} is not a folder (an image folder or an LMDB).')
        if backend == 'disk' and is_lmdb(value):
            raise InputError(f'{label}: {key} {value!r} is an LMDB; set io_backend: {{type: lmdb}} to read it.')
        if backend == 'lmdb':
            if not is_lmdb(value):
                raise InputError(f'{label}: {key} {value!r} is not an LMDB (no data.mdb), but io_backend is '
                                 'lmdb; make one with scripts/data_preparation/create_lmdb.py or set '
                                 'io_backend: {type: disk}.')
            if not osp.isfile(osp.join(value, 'meta_info.txt')):
                raise InputError(f'{label}: {key} {value!r} has no meta_info.txt, so its image keys are unknown. '
                                 'Rebuild the LMDB with scripts/data_preparation/create_lmdb.py, which always '
                                 'writes it.')


def check_denoising_options(opt, label):
    """DenoisingDataset: ``gray``, ``clip``, and ``sigma`` on the 0-255 scale (required without ``dataroot_lq``)."""
    check_bool(opt, 'gray', label)
    check_bool(opt, 'clip', label)
    if opt.get('sigma') is None:
        if opt.get('dataroot_lq') is None:
            raise InputError(f'{label}: sigma is missing; set the noise level on the 0-255 scale, e.g. sigma: 50 '
                             '(or sigma: [0, 75] for blind training), or give dataroot_lq with noisy images.')
        return
    low, high = check_level(opt, SIGMA, label)
    if 0 < high < 1:
        raise InputError(f'{label}: sigma {opt["sigma"]!r} looks like a noise level on the [0, 1] scale; sigma is '
                         f'on the 0-255 scale: write {round(high * 255)} for {high}.')


def check_jpeg_options(opt, label):
    """JPEGArtifactDataset: ``quality`` 1-100 (required without ``dataroot_lq``)."""
    if opt.get('quality') is None:
        if opt.get('dataroot_lq') is None:
            raise InputError(f'{label}: quality is missing; set the JPEG quality, e.g. quality: 10 (or [10, 40]), '
                             'or give dataroot_lq with compressed images.')
        return
    check_level(opt, QUALITY, label)


#: dataset class name -> the rule of the options it adds (``task_options``); DemosaicingDataset adds none
TASK_RULES = {'DenoisingDataset': check_denoising_options, 'JPEGArtifactDataset': check_jpeg_options}
