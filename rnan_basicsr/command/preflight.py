"""The pre-flight of ``basicsr train|test``: every option BasicSR or this package reads, checked before anything is
created, archived or written, with errors that name the file, the key and the fix.

:func:`check_options` runs on the options as read (see :mod:`rnan_basicsr.command.run` for the order): sections and
registered types; networks (built on the meta device) against the datasets' channels and scale; the weights of
``pretrain_network_g`` against the network; devices; the training keys
(:mod:`rnan_basicsr.options.training_rules`); and, last, every dataset built or paired (:mod:`.data_checks`).
:func:`check_layout` runs once BasicSR has laid the run out. A typo then fails in a second with one line instead
of after BasicSR has renamed the previous experiment folder to ``*_archived_*``, or hours later mid-run. Nothing
here decodes an image or sets up BasicSR's logger.
"""
import contextlib
import copy
import functools
import os
from os import path as osp

from rnan_basicsr.command.data_checks import check_paired_images
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset
from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.options import rules
from rnan_basicsr.options.dataset_rules import check_dataset_options
from rnan_basicsr.options.loader import OptionFile
from rnan_basicsr.options.model_rules import check_model_options
from rnan_basicsr.options.training_rules import check_training
from rnan_basicsr.options.validate import check_declared_keys, check_declared_values
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import check_path_exists, did_you_mean, is_int, relative_to_cwd


def _describe_installation():
    import basicsr

    import rnan_basicsr
    return (f'basicsr {getattr(basicsr, "__version__", "?")} was imported from {osp.dirname(basicsr.__file__)}, '
            f'rnan_basicsr {rnan_basicsr.__version__} from {osp.dirname(rnan_basicsr.__file__)}')


def _check_type(registry, type_name, key, opt_path):
    """Raise an InputError naming the key if ``type_name`` is not in ``registry`` (as Registry.get resolves it)."""
    if not isinstance(type_name, str) or not type_name:
        raise InputError(f'{opt_path!r}: {key} must name a registered {registry._name} type (a string), '
                         f'got {type_name!r}.')
    if type_name in registry or f'{type_name}_basicsr' in registry:
        return
    names = sorted(registry.keys())
    hint = did_you_mean(type_name, names)
    raise InputError(f"{opt_path!r}: {key} '{type_name}' is not in BasicSR's '{registry._name}' registry.{hint} "
                     f"Registered there: {', '.join(names)}. {_describe_installation()}. If the type comes from "
                     'another plugin, that plugin must be imported before the pipeline runs.')


def _require(opt, key, opt_path, kind, example):
    if key not in opt or opt[key] is None:
        raise InputError(f'{opt_path!r}: required option {key!r} is missing; add {key}: {example}')
    value = opt[key]
    if kind is dict and not isinstance(value, dict):
        raise InputError(f'{opt_path!r}: option {key!r} must be a mapping, got {type(value).__name__}.')
    return value


def _dataset_label(phase_key, dataset):
    return f'datasets.{phase_key} ({dataset.get("name")})'


@contextlib.contextmanager
def _root_logger_untouched():
    """Undo a ``get_root_logger()`` call made by a class check: ``train_pipeline`` must set the logger up itself,
    or the run gets no log file (BasicSR initialises its logger once per process)."""
    import logging
    from basicsr.utils.logger import initialized_logger

    logger = logging.getLogger('basicsr')
    before = (dict(initialized_logger), list(logger.handlers), logger.level, logger.propagate)
    try:
        yield
    finally:
        initialized_logger.clear()
        initialized_logger.update(before[0])
        logger.handlers[:] = before[1]
        logger.setLevel(before[2])
        logger.propagate = before[3]


def _class_rule(cls):
    """The option check of a registered class: ours are functions of :mod:`rnan_basicsr.options` (the model and
    datasets validate nothing themselves); another plugin's class may bring a ``check_options(opt)`` classmethod."""
    check = getattr(cls, 'check_options', None)
    if callable(check):
        return check
    if isinstance(cls, type) and issubclass(cls, DegradedImageDataset):
        return functools.partial(check_dataset_options, cls)
    if isinstance(cls, type) and issubclass(cls, RNANModel):
        return check_model_options
    return None


def _call_class_check(cls, options, opt_path):
    """Run the option check of the registered class ``cls`` (:func:`_class_rule`), if it has one; prefix its message
    with the file."""
    check = _class_rule(cls)
    if check is None:
        return
    try:
        with _root_logger_untouched():
            check(options)
    except InputError as error:
        raise InputError(f'{opt_path!r}: {error}') from None


def _dataset_as_basicsr_passes_it(opt, phase_key, dataset):
    """The dataset options as ``parse_options`` hands them to the class: with ``phase``, ``scale``, ``~`` expanded."""
    options = copy.deepcopy(dataset)
    options['phase'] = phase_key.split('_')[0]
    if 'scale' in opt:
        options['scale'] = opt['scale']
    for key in ('dataroot_gt', 'dataroot_lq'):
        if isinstance(options.get(key), str):
            options[key] = osp.expanduser(options[key])
    return options


def _check_path_exists(path, key, label, opt_path, kind='folder or .lmdb'):
    try:
        check_path_exists(path, key, label, kind)
    except InputError as error:
        raise InputError(f'{opt_path!r}: {error}') from None


def _check_paired_image_dataset(options, label, opt_path):
    """What BasicSR's PairedImageDataset reads without checking: data roots, io_backend, training keys (its keys
    are declared in :mod:`rnan_basicsr.options.schema`)."""
    backend = options.get('io_backend')
    if not isinstance(backend, dict) or backend.get('type') not in ('disk', 'lmdb', 'memcached'):
        raise InputError(f'{opt_path!r}: {label}: io_backend must be {{type: disk}} or {{type: lmdb}}, got '
                         f'{backend!r}.')
    for key in ('dataroot_gt', 'dataroot_lq'):
        if key not in options or options[key] is None:
            raise InputError(f'{opt_path!r}: {label}: {key} is missing; PairedImageDataset needs both dataroot_gt '
                             '(HR / clean images) and dataroot_lq (LR / degraded images).')
        if backend['type'] == 'memcached':
            continue
        _check_path_exists(options[key], key, label, opt_path)
        if backend['type'] == 'lmdb':
            if not options[key].endswith('.lmdb'):
                raise InputError(f'{opt_path!r}: {label}: io_backend is lmdb but {key} {options[key]!r} is not an '
                                 '.lmdb folder; use type: disk for image folders.')
            if not osp.isfile(osp.join(options[key], 'meta_info.txt')):
                raise InputError(f'{opt_path!r}: {label}: {key} {options[key]!r} has no meta_info.txt; BasicSR '
                                 'reads the keys from it. Re-create the LMDB with the data preparation scripts.')
        elif not osp.isdir(options[key]):
            raise InputError(f'{opt_path!r}: {label}: {key} {options[key]!r} is not a folder of images.')
    meta = options.get('meta_info_file')
    if meta is not None and backend['type'] == 'disk' and not osp.isfile(meta):
        raise InputError(f'{opt_path!r}: {label}: meta_info_file {meta!r} does not exist{relative_to_cwd(meta)}.')
    if options['phase'] == 'train':
        for key, example in (('gt_size', '96'), ('use_hflip', 'true'), ('use_rot', 'true')):
            if key not in options:
                raise InputError(f'{opt_path!r}: {label}: {key} is missing; training with PairedImageDataset needs '
                                 f'it, e.g. {key}: {example}.')


def _check_dataset(opt, phase_key, dataset, opt_path):
    from basicsr.utils.registry import DATASET_REGISTRY

    label = _dataset_label(phase_key, dataset)
    options = _dataset_as_basicsr_passes_it(opt, phase_key, dataset)
    cls = DATASET_REGISTRY.get(dataset['type'])
    _call_class_check(cls, options, opt_path)
    if dataset['type'] == 'PairedImageDataset':
        _check_paired_image_dataset(options, label, opt_path)
    else:  # our classes check their own roots; for anything else, at least the given paths must exist
        for key, value in options.items():
            if (key.startswith('dataroot_') or key == 'meta_info_file') and isinstance(value, str):
                _check_path_exists(value, key, label, opt_path, kind='file or folder')

    scale = opt.get('scale', 1)
    try:
        rules.restoration_data_at_scale_1(dataset['type'], label, scale)
        if options['phase'] == 'train':
            rules.gt_size_fits_scale(options.get('gt_size'), scale, label)
    except InputError as error:
        raise InputError(f'{opt_path!r}: {error}') from None
    if options['phase'] == 'train':
        for key, minimum, example in (('batch_size_per_gpu', 1, 16), ('num_worker_per_gpu', 0, 4)):
            value = options.get(key)
            if not is_int(value) or value < minimum:
                raise InputError(f'{opt_path!r}: {label}: {key} must be an integer >= {minimum}, got {value!r}; '
                                 f'e.g. {key}: {example}.')


def _check_networks(opt, networks, opt_path):
    """Our architectures are built on the meta device so that their own argument checks run now (no memory is
    allocated); the keys of every network are declared by its signature (:mod:`rnan_basicsr.options.registered`)."""
    import torch
    from basicsr.utils.registry import ARCH_REGISTRY

    for key in networks:
        options = opt[key]
        cls = ARCH_REGISTRY.get(options['type'])
        if getattr(cls, '__module__', '').startswith('rnan_basicsr.'):
            kwargs = {k: v for k, v in options.items() if k != 'type'}
            try:
                with torch.device('meta'):
                    cls(**kwargs)
            except (TypeError, ValueError) as error:
                raise InputError(f'{opt_path!r}: {key} ({options["type"]}): {error}. Fix the value in {key}.'
                                 ) from None


def _check_channels_and_scale(opt, datasets, opt_path):
    """network_g channels against what the datasets give; network_g.upscale against scale (:mod:`.rules`)."""
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY

    network = opt.get('network_g')
    if not isinstance(network, dict):
        return
    cls = ARCH_REGISTRY.get(network['type'])
    scale = opt.get('scale', 1)
    if 'scale' in opt and (not is_int(scale) or scale < 1):
        raise InputError(f'{opt_path!r}: scale must be a positive integer (1 for restoration, 2/3/4 for '
                         f'super-resolution), got {scale!r}.')
    try:
        rules.scale_given_for_paired_data(opt, datasets)
        rules.upscale_matches_scale(network, cls, scale)
        for phase_key, dataset in datasets.items():
            options = _dataset_as_basicsr_passes_it(opt, phase_key, dataset)
            found = rules.dataset_channels(options, DATASET_REGISTRY.get(dataset['type']))
            if found is not None:
                rules.channels_match_dataset(network, cls, _dataset_label(phase_key, dataset), found)
    except InputError as error:
        raise InputError(f'{opt_path!r}: {error}') from None


def _check_pretrained_paths(opt, opt_path, is_train):
    paths = opt['path']
    for key, value in paths.items():
        if key.startswith('pretrain_network') and value is not None:
            path = osp.expanduser(str(value))
            if not osp.isfile(path):
                raise InputError(f'{opt_path!r}: path.{key} {value!r} does not exist{relative_to_cwd(path)}. Point it '
                                 'to a .pth weights file, or set it to ~ to start from random weights.')
    if not is_train and paths.get('pretrain_network_g') is None:
        raise InputError(f'{opt_path!r}: path.pretrain_network_g is not set: basicsr test would evaluate a randomly '
                         'initialised network. Point it to the weights to test (e.g. experiments/<name>/models/'
                         'net_g_latest.pth).')


def _check_pretrained_fit(opt, opt_path):
    """``path.pretrain_network_<x>`` must fit network_<x>: the settings saved with it, and keys and shapes when it is
    loaded strictly."""
    from rnan_basicsr.weights import (check_fits, check_saved_settings, expected_state_dict, load_checkpoint,
                                      select_params)

    paths = opt['path']
    for key in [k for k in opt if k.startswith('network_')]:
        label = key[len('network_'):]
        weights = paths.get(f'pretrain_network_{label}')
        if weights is None:
            continue
        what = f'path.pretrain_network_{label}'
        checkpoint = load_checkpoint(osp.expanduser(str(weights)), what)
        check_saved_settings(checkpoint, opt[key], weights, what, key)  # loose loading too: it changes the outputs
        expected = expected_state_dict(opt[key])
        if expected is None or not paths.get(f'strict_load_{label}', True):
            continue
        state_dict, _ = select_params(checkpoint, paths.get(f'param_key_{label}', 'params'), weights, what)
        check_fits(expected, state_dict, weights, what, key, opt[key].get('type'))


def _check_devices(opt):
    """``num_gpu`` against the CUDA devices that exist; ``dist_params.backend`` (nccl is replaced by gloo on machines
    without CUDA, see :mod:`rnan_basicsr.compat.distributed`)."""
    import torch

    num_gpu = opt.get('num_gpu')
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if num_gpu == 'auto':
        return
    if not is_int(num_gpu) or num_gpu < 0:
        raise InputError(f'num_gpu must be an integer >= 0 (0 trains on the CPU) or auto, got {num_gpu!r}.')
    if num_gpu > available:
        found = f'{available} CUDA device(s)' if available else 'no CUDA device (torch.cuda.is_available() is False)'
        raise InputError(f'num_gpu is {num_gpu} but this machine has {found}. Set num_gpu: {available} (0 runs on '
                         'the CPU), or num_gpu: auto to use every GPU there is.')
    backend = (opt.get('dist_params') or {}).get('backend')
    if backend is not None and backend not in ('nccl', 'gloo', 'mpi'):
        raise InputError(f'dist_params.backend must be nccl, gloo or mpi, got {backend!r}.')


def _build_dataset(opt, phase_key, dataset, opt_path):
    """Build our datasets (their constructors check every file's name, pairing and size); pair and measure
    BasicSR's PairedImageDataset. Nothing is decoded but image headers."""
    from basicsr.utils.registry import DATASET_REGISTRY

    options = _dataset_as_basicsr_passes_it(opt, phase_key, dataset)
    cls = DATASET_REGISTRY.get(dataset['type'])
    try:
        if dataset['type'] == 'PairedImageDataset':
            check_paired_images(options, _dataset_label(phase_key, dataset))
        elif getattr(cls, '__module__', '').startswith('rnan_basicsr.'):
            with _root_logger_untouched():
                cls(options)
    except InputError as error:
        raise InputError(f'{opt_path!r}: {error}') from None


def check_layout(opt, opt_path):
    """After BasicSR laid the run out: the folders it will create must be creatable (not files, writable)."""
    root = opt['root_path']
    folders = ['experiments' if opt['is_train'] else 'results']
    if opt['is_train'] and opt['logger'].get('use_tb_logger') and 'debug' not in opt['name']:
        folders.append('tb_logger')
    for folder in folders:
        path = osp.join(root, folder)
        for target in (path, osp.join(path, opt['name'])):
            if osp.exists(target) and not osp.isdir(target):
                raise InputError(f'{target!r} is a file, but BasicSR keeps the run\'s {folder} there. Move the file '
                                 'away, or run basicsr in another folder.')
        existing = path if osp.isdir(path) else root
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(f'{existing!r} is not writable, so BasicSR cannot create {folder}/{opt["name"]} there. '
                             'Run basicsr in a folder you can write to, or fix the permissions.')


def check_options(opt, opt_path, is_train):
    """Check the options before BasicSR's pipelines create or rename anything.

    ``opt`` is an :class:`~rnan_basicsr.options.loader.OptionFile` (messages then give ``file:line:column``) or a
    dict. First every key is checked against the declared options (:mod:`rnan_basicsr.options.validate`): unknown,
    overridden keys, and ``name``; then the checks below; then every value against its declared type and
    range; last the data.

    Required sections and registered types; the options of every dataset (ours:
    :mod:`rnan_basicsr.options.dataset_rules`; another plugin's class: its ``check_options`` classmethod; BasicSR's
    PairedImageDataset checked here), of every network and loss (their signatures; our architectures are also built
    on the meta device), of the model (RNANModel: :mod:`rnan_basicsr.options.model_rules`); data roots and weights
    files that must exist; cross-checks: network_g channels against the datasets' channels, network_g.upscale
    against scale, gt_size a multiple of scale;
    and the training / logger / val keys BasicSR reads with ``opt[...]`` mid-run.

    Raises:
        InputError: naming the option file, the key and the fix.
    """
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

    options = opt if isinstance(opt, OptionFile) else OptionFile(opt_path, opt)
    opt = options.opt
    _require(opt, 'name', opt_path, str, 'my_experiment')
    check_declared_keys(options)
    _require(opt, 'num_gpu', opt_path, int, '0  # 0 for CPU, or auto')
    _check_type(MODEL_REGISTRY, _require(opt, 'model_type', opt_path, str, 'RNANModel'), 'model_type', opt_path)
    datasets = _require(opt, 'datasets', opt_path, dict, '{train: {...}, val: {...}}')
    _require(opt, 'path', opt_path, dict, '{pretrain_network_g: ~, strict_load_g: true, resume_state: ~}')

    networks = [key for key in opt if key.startswith('network_')]
    if not networks:
        raise InputError(f'{opt_path!r}: no network is defined; add network_g: {{type: RNAN, ...}}')
    for key in networks:
        network = _require(opt, key, opt_path, dict, '{type: RNAN, ...}')
        _check_type(ARCH_REGISTRY, network.get('type'), f'{key}.type', opt_path)

    phases = ('train', 'val') if is_train else ('test', 'val')
    for phase_key, dataset in datasets.items():
        if phase_key.split('_')[0] not in phases:
            raise InputError(f'{opt_path!r}: dataset phase {phase_key!r} is not one of {"/".join(phases)} '
                             f'(suffixes like {phases[1]}_2 are allowed); rename datasets.{phase_key}.')
        if not isinstance(dataset, dict):
            raise InputError(f'{opt_path!r}: datasets.{phase_key} must be a mapping with name and type.')
        _require(dataset, 'name', f'{opt_path}: datasets.{phase_key}', str, 'MyDataset')
        _check_type(DATASET_REGISTRY, dataset.get('type'), f'datasets.{phase_key}.type', opt_path)

    if is_train:
        if 'train' not in datasets:
            raise InputError(f'{opt_path!r}: datasets.train is missing; training needs a training dataset.')
        train = _require(opt, 'train', opt_path, dict,
                         '{optim_g: ..., scheduler: ..., total_iter: ..., pixel_opt: ...}')
        for key, value in train.items():
            if key.endswith('_opt') and isinstance(value, dict):
                _check_type(LOSS_REGISTRY, value.get('type'), f'train.{key}.type', opt_path)
        _require(opt, 'logger', opt_path, dict, '{print_freq: 100, save_checkpoint_freq: 5000, use_tb_logger: true}')
    else:
        _require(opt, 'val', opt_path, dict, '{save_img: true, metrics: {...}}')
    val = opt.get('val') or {}
    if isinstance(val, dict):
        for name, metric in (val.get('metrics') or {}).items():
            if not isinstance(metric, dict):
                raise InputError(f'{opt_path!r}: val.metrics.{name} must be a mapping with a type.')
            _check_type(METRIC_REGISTRY, metric.get('type'), f'val.metrics.{name}.type', opt_path)
        if (is_train and opt.get('val') is not None or not is_train) and not isinstance(val.get('save_img'), bool):
            raise InputError(f'{opt_path!r}: val.save_img must be true or false, got {val.get("save_img")!r}.')

    model_cls = MODEL_REGISTRY.get(opt['model_type'])
    _check_networks(opt, networks, opt_path)
    for phase_key, dataset in datasets.items():
        _check_dataset(opt, phase_key, dataset, opt_path)
    _check_channels_and_scale(opt, datasets, opt_path)
    if is_train:
        try:
            check_training(opt, model_cls)
        except InputError as error:
            raise InputError(f'{opt_path!r}: {error}') from None
    _check_pretrained_paths(opt, opt_path, is_train)
    _call_class_check(model_cls, copy.deepcopy(opt), opt_path)
    try:
        _check_devices(opt)
        _check_pretrained_fit(opt, opt_path)
    except InputError as error:
        raise InputError(f'{opt_path!r}: {error}') from None
    check_declared_values(options)
    for phase_key, dataset in datasets.items():  # last: reads every image header
        _build_dataset(opt, phase_key, dataset, opt_path)
