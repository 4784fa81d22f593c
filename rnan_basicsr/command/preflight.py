"""The pre-flight of ``basicsr train|test``: every option BasicSR or this package reads, checked before anything is
created, archived or written, with errors that name the file, the key and the fix (the list: docs/training.md, "What
a run checks before anything is written"). Nothing here sets up BasicSR's logger; the only images decoded are those
of validation and test sets (small).
"""
import contextlib
import copy
import functools
import logging
import os
import torch
from basicsr.utils.logger import initialized_logger
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY
from os import path as osp

from rnan_basicsr.command.data_checks import check_paired_images, decode_images
from rnan_basicsr.command.model_checks import check_model_options
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset
from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.options import rules
from rnan_basicsr.options.dataset_rules import check_dataset_options, check_roots
from rnan_basicsr.options.loader import OptionFile
from rnan_basicsr.options.schema import PathOptions
from rnan_basicsr.options.training_rules import check_training
from rnan_basicsr.options.validate import check_declared, unknown_type
from rnan_basicsr.utils.errors import InputError, within
from rnan_basicsr.utils.validation import check_path_exists, relative_to_cwd
from rnan_basicsr.weights import check_fits, check_saved_settings, expected_state_dict, load_checkpoint, select_params


def _check_model_type(model_type):
    """Raise an InputError if ``model_type`` is not in BasicSR's model registry (the registered sections' types are
    checked with the declared options)."""
    if model_type not in MODEL_REGISTRY and f'{model_type}_basicsr' not in MODEL_REGISTRY:
        raise InputError(unknown_type('model_type', 'model', model_type, sorted(MODEL_REGISTRY.keys())),
                         ('model_type', ))


@contextlib.contextmanager
def _located(options):
    """An InputError raised inside starts with the ``file:line:column`` of the key it names (its ``key``), or with
    the file when it names none: the same form as the declared options' mistakes. A value ``--force_yml`` set at or
    below that key is named, since the file's line shows another one."""
    try:
        yield
    except InputError as error:
        forced = options.forced_within(error.key)
        note = f' ({", ".join(forced)} set by --force_yml)' if forced else ''
        raise InputError(f'{options.where(error.key)}: {error}{note}', error.key) from None


@contextlib.contextmanager
def _root_logger_untouched():
    """Undo a ``get_root_logger()`` call made by a class check: ``train_pipeline`` must set the logger up itself,
    or the run gets no log file (BasicSR initialises its logger once per process)."""
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


def _call_class_check(cls, options):
    """Run the option check of the registered class ``cls``, if it has one: ours are functions of
    :mod:`rnan_basicsr.options` (the model and datasets validate nothing themselves); another plugin's class may bring
    a ``check_options(opt)`` classmethod. Returns the check that ran, or None."""
    check = getattr(cls, 'check_options', None)
    if not callable(check) and isinstance(cls, type):
        if issubclass(cls, DegradedImageDataset):
            check = functools.partial(check_dataset_options, cls)
        elif issubclass(cls, RNANModel):
            check = check_model_options
    if not callable(check):
        return None
    with _root_logger_untouched():
        check(options)
    return check


def dataset_as_basicsr_passes_it(opt, phase_key, dataset):
    """The dataset options as the pipeline hands them to the class: with ``phase``, ``scale``, ``~`` expanded (by
    ``parse_options``) and ``datasets_key`` (:func:`rnan_basicsr.command.run.lay_out`)."""
    options = copy.deepcopy(dataset)
    options['phase'], options['datasets_key'] = phase_key.split('_')[0], phase_key
    if 'scale' in opt:
        options['scale'] = opt['scale']
    for key in ('dataroot_gt', 'dataroot_lq'):
        if isinstance(options.get(key), str):
            options[key] = osp.expanduser(options[key])
    return options


def _datasets(opt):
    """``(options as the pipeline passes them, label)`` of every dataset, a fresh copy at each call."""
    for phase_key, dataset in opt['datasets'].items():
        yield dataset_as_basicsr_passes_it(opt, phase_key, dataset), f'datasets.{phase_key} ({dataset.get("name")})'


def _check_dataset(options, label, scale):
    """The class's rule (ours, or another plugin's ``check_options``); for BasicSR's PairedImageDataset its roots and
    training keys; for any other class at least the given paths must exist. Then the cross-field rules."""
    with within('datasets', options['datasets_key']):
        check = _call_class_check(DATASET_REGISTRY.get(options['type']), options)
        if options['type'] == 'PairedImageDataset':
            check_roots(options, label, options['io_backend']['type'])
        else:
            for key, value in options.items():
                if (key.startswith('dataroot_') or key == 'meta_info_file') and isinstance(value, str):
                    check_path_exists(value, key, label, kind='file or folder')
        ours = getattr(check, 'func', None) is check_dataset_options  # it has run the next two rules already
        if not ours:
            rules.restoration_data_at_scale_1(options['type'], label, scale)
        if options['phase'] == 'train':
            if not ours:
                rules.training_keys_given(options, label)
            rules.gt_size_fits_scale(options.get('gt_size'), scale, label)


def _check_networks(opt):
    """Our architectures are built on the meta device so that their own argument checks run now (no memory is
    allocated); the keys of every network are declared by its signature (:mod:`rnan_basicsr.options.registered`)."""
    for key in [key for key in ('network_g', 'network_d') if key in opt]:
        options = opt[key]
        cls = ARCH_REGISTRY.get(options['type'])
        if getattr(cls, '__module__', '').startswith('rnan_basicsr.'):
            try:
                with torch.device('meta'):
                    cls(**{k: v for k, v in options.items() if k != 'type'})
            except (TypeError, ValueError) as error:
                raise InputError(f'{key} ({options["type"]}): {error}. Fix the value in {key}.', (key, )
                                 ) from None


def _check_channels_and_scale(opt, scale):
    """network_g channels against what the datasets give; network_g.upscale against scale (:mod:`.rules`)."""
    network = opt.get('network_g')
    if not isinstance(network, dict):
        return
    cls = ARCH_REGISTRY.get(network['type'])
    rules.scale_given_for_paired_data(opt, opt['datasets'])
    rules.upscale_matches_scale(network, cls, scale)
    for options, label in _datasets(opt):
        found = rules.dataset_channels(options, DATASET_REGISTRY.get(options['type']))
        if found is not None:
            rules.channels_match_dataset(network, cls, label, found)


def _check_pretrained_paths(opt, is_train):
    paths = opt['path']
    for key, value in paths.items():
        if key.startswith('pretrain_network') and value is not None:
            path = osp.expanduser(str(value))
            if not osp.isfile(path):
                raise InputError(f'path.{key} {value!r} does not exist{relative_to_cwd(path)}. Point it '
                                 'to a .pth weights file, or set it to ~ to start from random weights.', ('path', key))
    if not is_train and paths.get('pretrain_network_g') is None:
        raise InputError('path.pretrain_network_g is not set: basicsr test would evaluate a randomly '
                         'initialised network. Point it to the weights to test (e.g. experiments/<name>/models/'
                         'net_g_latest.pth).', ('path', ))


def _check_pretrained_fit(opt):
    """``path.pretrain_network_<x>`` must fit network_<x>: the settings saved with it, and keys and shapes when it is
    loaded strictly."""
    paths = PathOptions.model_construct(**opt['path'])
    for key in [k for k in opt if k.startswith('network_')]:
        label = key[len('network_'):]
        weights = getattr(paths, f'pretrain_network_{label}')
        if weights is None:
            continue
        what = f'path.pretrain_network_{label}'
        with within('path', f'pretrain_network_{label}'):
            checkpoint = load_checkpoint(osp.expanduser(str(weights)), what)
            check_saved_settings(checkpoint, opt[key], weights, what, key)  # loose loading too: it changes outputs
            expected = expected_state_dict(opt[key])
            if expected is None or not getattr(paths, f'strict_load_{label}'):
                continue
            state_dict, _ = select_params(checkpoint, getattr(paths, f'param_key_{label}'), weights, what)
            check_fits(expected, state_dict, weights, what, key, opt[key].get('type'))


def _check_devices(opt):
    """``num_gpu`` against the CUDA devices that exist."""
    num_gpu = opt.get('num_gpu')
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if num_gpu != 'auto' and num_gpu > available:
        found = f'{available} CUDA device(s)' if available else 'no CUDA device (torch.cuda.is_available() is False)'
        raise InputError(f'num_gpu is {num_gpu} but this machine has {found}. Set num_gpu: {available} (0 runs on '
                         'the CPU), or num_gpu: auto to use every GPU there is.', ('num_gpu', ))


def _build_dataset(options, label):
    """Build our datasets (their constructors check every file's name, pairing, size and end); pair and measure
    BasicSR's PairedImageDataset. Validation and test images on disk are decoded whole, training images only
    checked (headers and ends)."""
    cls = DATASET_REGISTRY.get(options['type'])
    with within('datasets', options['datasets_key']):
        if options['type'] == 'PairedImageDataset':
            check_paired_images(options, label)
        elif getattr(cls, '__module__', '').startswith('rnan_basicsr.'):
            with _root_logger_untouched():
                built = cls(options)
            if options['phase'] != 'train' and built.io_backend_opt['type'] == 'disk':
                decode_images([path for entry in built.paths for path in (entry['gt_path'], entry['lq_path']) if path],
                              label)


def check_layout(opt):
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
    """Check the options ``opt`` (an :class:`~rnan_basicsr.options.loader.OptionFile`, whose messages give
    ``file:line:column``, or a dict) before BasicSR's pipelines create or rename anything: every key and value against
    the declared options (:mod:`rnan_basicsr.options.validate`), then the rules beside them (:func:`_check_rules`),
    the data last. Raises an InputError naming the file, the key and the fix."""
    options = opt if isinstance(opt, OptionFile) else OptionFile(opt_path, opt)
    declared = check_declared(options, is_train)
    with _located(options):
        _check_rules(options.opt, is_train, declared)


def _check_rules(opt, is_train, declared):
    """What :func:`check_options` runs after the declared options (``declared``: as validated), in that order."""
    _check_model_type(opt['model_type'])
    datasets = opt['datasets']
    phases = ('train', 'val') if is_train else ('test', 'val')
    for phase_key, dataset in datasets.items():
        if phase_key.split('_')[0] not in phases:
            raise InputError(f'dataset phase {phase_key!r} is not one of {"/".join(phases)} (suffixes like '
                             f'{phases[1]}_2 are allowed); rename datasets.{phase_key}.', ('datasets', phase_key))
    if is_train and 'train' not in datasets:
        raise InputError('datasets.train is missing; training needs a training dataset.', ('datasets', ))

    model_cls = MODEL_REGISTRY.get(opt['model_type'])
    _check_networks(opt)
    for options, label in _datasets(opt):
        _check_dataset(options, label, declared.scale)
    _check_channels_and_scale(opt, declared.scale)
    if is_train:
        check_training(opt, model_cls)
    _check_pretrained_paths(opt, is_train)
    _check_devices(opt)
    _check_pretrained_fit(opt)
    _call_class_check(model_cls, copy.deepcopy(opt))
    for options, label in _datasets(opt):  # last: reads every image header (and decodes val / test sets)
        _build_dataset(options, label)
