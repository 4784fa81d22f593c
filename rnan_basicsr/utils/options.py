"""Reading and checking BasicSR option files before a pipeline starts, with errors that name the file and key.

BasicSR reads the same file again in ``parse_options``; the checks here only make sure it will not fail there with
a bare ``KeyError`` or ``No object named 'X' found in 'arch' registry``.
"""
import difflib
import os
import yaml
from os import path as osp

from rnan_basicsr.utils.errors import InputError


def load_option_file(opt_path):
    """Read an option YAML the way BasicSR does (ordered mappings) and return the dict.

    Raises:
        InputError: the file is missing or unreadable, is not valid YAML (with line and column), or is not a mapping.
    """
    from basicsr.utils.options import ordered_yaml

    if not osp.exists(opt_path):
        raise InputError(f'option file {opt_path!r} does not exist (looked in {os.getcwd()}). '
                         'Pass the path of a YAML file, e.g. basicsr train -opt options/train_RNAN_CAR_q10.yml')
    if not osp.isfile(opt_path):
        raise InputError(f'option file {opt_path!r} is not a file. Pass the path of a YAML file to -opt.')
    try:
        with open(opt_path, mode='r', encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f'cannot read option file {opt_path!r}: {error}. Check its permissions and that it is a '
                         'UTF-8 text file.') from None
    try:
        opt = yaml.load(text, Loader=ordered_yaml()[0])
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f', line {mark.line + 1}, column {mark.column + 1}' if mark is not None else ''
        problem = ' '.join(str(getattr(error, 'problem', None) or error).split())
        raise InputError(f'invalid YAML in option file {opt_path!r}{where}: {problem}. Fix the syntax there '
                         '(indentation, a missing colon or quote).') from None
    if not isinstance(opt, dict):
        raise InputError(f'option file {opt_path!r} must be a YAML mapping of options (name, model_type, datasets, '
                         f'network_g, path, ...), but it holds a {type(opt).__name__}.')
    return opt


def apply_force_yml(opt, entries, opt_path):
    """Apply ``--force_yml a:b:c=value`` entries to ``opt`` in place, as BasicSR's ``parse_options`` will.

    Values are converted by BasicSR's own rules; like BasicSR, only existing keys may be changed.
    """
    from basicsr.utils.options import _postprocess_yml_value

    for entry in entries or []:
        if entry.count('=') != 1:
            raise InputError(f'--force_yml {entry!r} must have the form key:subkey=value, e.g. train:total_iter=1000')
        keys, value = (part.strip() for part in entry.split('='))
        node = opt
        keys = keys.split(':')
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                raise InputError(f'--force_yml {entry!r}: option {":".join(keys[:depth + 1])!r} is not in '
                                 f'{opt_path!r}; --force_yml can only change existing options.')
            if depth == len(keys) - 1:
                node[key] = _postprocess_yml_value(value)
            else:
                node = node[key]
    return opt


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
    close = difflib.get_close_matches(type_name, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ''
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


def check_options(opt, opt_path, is_train):
    """Check what BasicSR's pipelines read before they start: required sections and every registered type.

    Raises:
        InputError: naming the option file, the key and the fix.
    """
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

    _require(opt, 'name', opt_path, str, 'my_experiment')
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
    for name, metric in (val.get('metrics') or {}).items():
        if not isinstance(metric, dict):
            raise InputError(f'{opt_path!r}: val.metrics.{name} must be a mapping with a type.')
        _check_type(METRIC_REGISTRY, metric.get('type'), f'val.metrics.{name}.type', opt_path)
