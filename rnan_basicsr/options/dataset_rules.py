"""The rules of the datasets' options beyond the declared keys (:mod:`.schema`): data roots, training keys, each
task's level. Run by the pre-flight and by a DegradedImageDataset built directly, without reading any image."""
from os import path as osp

from rnan_basicsr.options.loader import OptionFile
from rnan_basicsr.options.registered import options_model
from rnan_basicsr.options.rules import restoration_data_at_scale_1, training_keys_given
from rnan_basicsr.options.validate import check_declared
from rnan_basicsr.tasks import QUALITY, SIGMA
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import check_level, check_path_exists, is_lmdb

PHASES = ('train', 'val', 'test')


def dataset_label(opt):
    """How errors name a dataset: ``datasets.<key> (<name>)``, by its key under ``datasets`` (``test_1``: the
    ``datasets_key`` the ``basicsr`` command adds beside BasicSR's ``phase``), else by its phase."""
    opt = opt if isinstance(opt, dict) else {}
    return f'datasets.{opt.get("datasets_key") or opt.get("phase") or "<phase>"} ({opt.get("name") or "unnamed"})'


def check_dataset_options(cls, opt):
    """Check the options ``opt`` of the dataset class ``cls`` (a DegradedImageDataset): the declared options, the
    data roots, for ``phase: train`` the training keys, then the task's own keys (:data:`TASK_RULES`).

    Returns:
        pydantic.BaseModel: the declared options of ``cls`` with their defaults filled in (what the dataset reads).
    """
    label = dataset_label(opt)
    if not isinstance(opt, dict):
        raise InputError(f'{label}: the dataset options must be a mapping, got {type(opt).__name__}')
    declared = {key: value for key, value in opt.items() if key not in ('phase', 'scale', 'datasets_key')}
    declared.setdefault('type', cls.__name__)
    declared.setdefault('name', 'unnamed')  # only BasicSR's data loader needs it
    settings = check_declared(OptionFile(label, declared), model=options_model('dataset', cls.__name__))
    phase = opt.get('phase')
    if phase is not None and phase not in PHASES:
        raise InputError(f'{label}: phase must be one of {"/".join(PHASES)}, got {phase!r}', key=('phase', ))
    restoration_data_at_scale_1(cls.__name__, label, opt.get('scale', 1))
    check_roots(opt, label, settings.io_backend.type)
    if settings.filename_tmpl.count('{}') != 1:
        raise InputError(f"{label}: filename_tmpl must be a string with one '{{}}' for the GT name, got "
                         f"{settings.filename_tmpl!r}; e.g. filename_tmpl: '{{}}' (same names) or '{{}}_noisy'",
                         key=('filename_tmpl', ))
    if phase == 'train':
        training_keys_given(opt, label)
    task_rule = TASK_RULES.get(cls.__name__)
    if task_rule is not None:
        task_rule(declared, label)  # as declared: quality 10.0 is 10
    return settings


def check_roots(opt, label, backend):
    """``dataroot_gt``, ``dataroot_lq`` and ``meta_info_file`` exist and fit the ``backend`` (for
    BasicSR's PairedImageDataset and ours; a memcached server is not checked)."""
    if backend == 'memcached':
        return
    for key in ('dataroot_gt', 'dataroot_lq'):
        value = opt.get(key)
        if value is None:
            continue
        check_path_exists(value, key, label)
        if not osp.isdir(value):
            raise InputError(f'{label}: {key} {value!r} is not a folder (an image folder or an LMDB).', key=(key, ))
        if backend == 'disk' and is_lmdb(value):
            raise InputError(f'{label}: {key} {value!r} is an LMDB; set io_backend: {{type: lmdb}} to read it.',
                             key=(key, ))
        if backend == 'lmdb':
            if not is_lmdb(value):
                raise InputError(f'{label}: {key} {value!r} is not an LMDB (no data.mdb), but io_backend is '
                                 'lmdb; make one with scripts/data_preparation/create_lmdb.py or set '
                                 'io_backend: {type: disk}.', key=(key, ))
            if not osp.isfile(osp.join(value, 'meta_info.txt')):
                raise InputError(f'{label}: {key} {value!r} has no meta_info.txt, so its image keys are unknown. '
                                 'Rebuild the LMDB with scripts/data_preparation/create_lmdb.py, which always '
                                 'writes it.', key=(key, ))
    meta_info = opt.get('meta_info_file')
    if meta_info is not None:
        check_path_exists(meta_info, 'meta_info_file', label, kind='meta_info file')
        if backend == 'lmdb':
            raise InputError(f"{label}: meta_info_file is for io_backend disk; an LMDB's own meta_info.txt "
                             'lists its images. Remove meta_info_file.', key=('meta_info_file', ))
        if not osp.isfile(meta_info):
            raise InputError(f'{label}: meta_info_file {meta_info!r} is not a file.', key=('meta_info_file', ))


def check_denoising_options(opt, label):
    """DenoisingDataset: ``sigma`` on the 0-255 scale (required without ``dataroot_lq``)."""
    if opt.get('sigma') is None:
        if opt.get('dataroot_lq') is None:
            raise InputError(f'{label}: sigma is missing; set the noise level on the 0-255 scale, e.g. sigma: 50 '
                             '(or sigma: [0, 75] for blind training), or give dataroot_lq with noisy images.',
                             key=('sigma', ))
        return
    low, high = check_level(opt, SIGMA, label)
    if 0 < high < 1:
        raise InputError(f'{label}: sigma {opt["sigma"]!r} looks like a noise level on the [0, 1] scale; sigma is '
                         f'on the 0-255 scale: write {round(high * 255)} for {high}.', key=('sigma', ))


def check_jpeg_options(opt, label):
    """JPEGArtifactDataset: ``quality`` 1-100 (required without ``dataroot_lq``)."""
    if opt.get('quality') is None:
        if opt.get('dataroot_lq') is None:
            raise InputError(f'{label}: quality is missing; set the JPEG quality, e.g. quality: 10 (or [10, 40]), '
                             'or give dataroot_lq with compressed images.', key=('quality', ))
        return
    check_level(opt, QUALITY, label)


#: dataset class name -> the rule of the options it adds; DemosaicingDataset adds none
TASK_RULES = {'DenoisingDataset': check_denoising_options, 'JPEGArtifactDataset': check_jpeg_options}
