"""Reading an option file once, safely, and applying ``--force_yml``: the first step of ``basicsr train|test``."""
import os
import yaml
from os import path as osp

from rnan_basicsr.compat.options import OptionLoader, parse_option_value
from rnan_basicsr.utils.errors import InputError


def _yaml_problem(error):
    """``(where, problem)`` of a YAMLError: ``', line 3, column 7'`` and its one-line description."""
    mark = getattr(error, 'problem_mark', None)
    where = f', line {mark.line + 1}, column {mark.column + 1}' if mark is not None else ''
    problem = ' '.join(str(getattr(error, 'problem', None) or error).split())
    return where, problem


def _python_tag(error):
    """The ``!!python/...`` tag a ConstructorError refused, or None."""
    problem = str(getattr(error, 'problem', '') or '')
    if isinstance(error, yaml.constructor.ConstructorError) and 'python/' in problem:
        return '!!' + problem.split("'")[1].replace('tag:yaml.org,2002:', '') if "'" in problem else problem
    return None


def load_option_file(opt_path):
    """Read an option YAML with the safe loader (ordered mappings, no Python tags) and return the dict.

    Raises:
        InputError: the file is missing or unreadable, is not valid YAML (with line and column), uses a Python tag
            (which could run code), or is not a mapping.
    """
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
        opt = yaml.load(text, Loader=OptionLoader)
    except yaml.YAMLError as error:
        where, problem = _yaml_problem(error)
        tag = _python_tag(error)
        if tag is not None:
            raise InputError(f'option file {opt_path!r}{where}: the tag {tag} is refused: it would construct a Python '
                             'object (and can run code) while the file is read. Option files hold plain values; '
                             'remove the tag.') from None
        raise InputError(f'invalid YAML in option file {opt_path!r}{where}: {problem}. Fix the syntax there '
                         '(indentation, a missing colon or quote).') from None
    if not isinstance(opt, dict):
        raise InputError(f'option file {opt_path!r} must be a YAML mapping of options (name, model_type, datasets, '
                         f'network_g, path, ...), but it holds a {type(opt).__name__}.')
    return opt


def apply_force_yml(opt, entries, opt_path):
    """Apply ``--force_yml a:b:c=value`` entries to ``opt`` in place; values are parsed as YAML.

    ``-5`` and ``1e-4`` are numbers, ``[0.9, 0.99]`` a list, ``~`` null (see
    :func:`rnan_basicsr.compat.options.parse_option_value`). As in BasicSR, only existing keys may be changed.
    """
    for entry in entries or []:
        if entry.count('=') != 1:
            raise InputError(f'--force_yml {entry!r} must have the form key:subkey=value, e.g. train:total_iter=1000')
        keys, text = (part.strip() for part in entry.split('='))
        try:
            value = parse_option_value(text)
        except yaml.YAMLError as error:
            tag = _python_tag(error)
            problem = f'the tag {tag} is refused (it would construct a Python object)' if tag else _yaml_problem(
                error)[1]
            raise InputError(f'--force_yml {entry!r}: the value is not valid YAML: {problem}. Write a plain value, '
                             'e.g. 1e-4, -1, true, ~ or [0.9, 0.99].') from None
        node = opt
        keys = keys.split(':')
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                raise InputError(f'--force_yml {entry!r}: option {":".join(keys[:depth + 1])!r} is not in '
                                 f'{opt_path!r}; --force_yml can only change existing options.')
            if depth == len(keys) - 1:
                node[key] = value
            else:
                node = node[key]
    return opt
