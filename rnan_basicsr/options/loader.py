"""Reading an option file once, safely (the YAML rules of :mod:`.yaml_rules`), with the ``file:line:column`` of every
key (:class:`OptionFile`), and applying ``--force_yml``: the first step of ``basicsr train|test``."""
import os
import yaml
from collections import OrderedDict
from dataclasses import dataclass, field
from os import path as osp

from rnan_basicsr.options.yaml_rules import YAMLRuleError, compose, construct, parse_option_value, tag_name
from rnan_basicsr.utils.errors import InputError


@dataclass
class OptionFile:
    """The options (``opt``, after ``--force_yml``) of the file ``path`` as the user named it; ``positions``:
    ``(key, subkey, ...)`` (list items by index) -> 1-based ``(line, column)``; ``forced``: paths --force_yml set."""
    path: str
    opt: dict
    positions: dict = field(default_factory=dict)
    forced: set = field(default_factory=set)

    def where(self, loc):
        """``file:line:column`` of the deepest written key of ``loc`` (a tuple of keys), or ``file``."""
        for depth in range(len(loc), 0, -1):
            if tuple(loc[:depth]) in self.positions:
                line, column = self.positions[tuple(loc[:depth])]
                return f'{self.path}:{line}:{column}'
        return self.path

    def forced_within(self, loc):
        """The dotted keys at or below ``loc`` (a non-empty tuple of keys) whose value ``--force_yml`` set."""
        loc = tuple(loc)
        return ['.'.join(map(str, key)) for key in sorted(self.forced) if loc and key[:len(loc)] == loc]


def _yaml_problem(error):
    """``(where, problem)`` of a YAMLError: ``':3:7'`` (line and column, as after a file name) and its one-line
    description."""
    mark = getattr(error, 'problem_mark', None)
    where = f':{mark.line + 1}:{mark.column + 1}' if mark is not None else ''
    problem = ' '.join(str(getattr(error, 'problem', None) or error).split())
    return where, problem


def _refused_tag(error):
    """The tag (as written) a ConstructorError could not construct, or None."""
    problem = str(getattr(error, 'problem', '') or '')
    if isinstance(error, yaml.constructor.ConstructorError) and 'constructor for the tag' in problem:
        return tag_name(problem.split("'")[1]) if "'" in problem else problem
    return None


def _positions(node, prefix=(), found=None):
    """``key path -> (line, column)`` of every key (and list item) under a constructed node tree."""
    found = {} if found is None else found
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                path = prefix + (key.value, )
                found.setdefault(path, (key.start_mark.line + 1, key.start_mark.column + 1))
                _positions(value, path, found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = prefix + (index, )
            found.setdefault(path, (item.start_mark.line + 1, item.start_mark.column + 1))
            _positions(item, path, found)
    return found


def _tag_error(tag):
    if 'python/' in tag:
        return (f'the tag {tag} is refused: it would construct a Python object (and can run code) while the file is '
                'read. Option files hold plain values; remove the tag.')
    return f'the tag {tag} is not a YAML type option files use; remove it (plain values, lists and mappings only).'


def read_option_file(opt_path):
    """The :class:`OptionFile` of an option YAML; an InputError if it is missing or unreadable, not valid YAML,
    breaks a YAML rule, uses a tag or is not a mapping."""
    if osp.islink(opt_path) and not osp.exists(opt_path):  # a loop ends on a link, a dangling link on nothing
        cause = ('a loop of symbolic links (one leads back to another)' if osp.islink(osp.realpath(opt_path)) else
                 f'a symbolic link to {os.readlink(opt_path)!r}, which leads to no file')
        raise InputError(f'option file {opt_path!r} is {cause}. Point -opt at the YAML file itself.')
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
        node = compose(text)
        opt = construct(node)
    except yaml.YAMLError as error:
        where, problem = _yaml_problem(error)
        tag = _refused_tag(error)
        if tag is not None:
            raise InputError(f'{opt_path}{where}: {_tag_error(tag)}') from None
        if isinstance(error, YAMLRuleError):
            raise InputError(f'{opt_path}{where}: {problem}.') from None
        raise InputError(f'{opt_path}{where}: invalid YAML: {problem}. Fix the syntax there (indentation, a missing '
                         'colon or quote).') from None
    if opt is None:
        raise InputError(f'option file {opt_path!r} is empty (no options, only comments or blank lines). Write the '
                         'options there (name, model_type, datasets, network_g, path, ...), e.g. starting from a copy '
                         'of options/train_RNAN_quickstart_DN_RGB_sigma30.yml.')
    if not isinstance(opt, dict):
        raise InputError(f'option file {opt_path!r} must be a YAML mapping of options (name, model_type, datasets, '
                         f'network_g, path, ...), but it holds a {type(opt).__name__}.')
    return OptionFile(opt_path, opt, _positions(node))


def load_option_file(opt_path):
    """The options of an option file (see :func:`read_option_file`), as a dict."""
    return read_option_file(opt_path).opt


def apply_force_yml(options, entries):
    """Apply ``--force_yml a:b:c=value`` entries (values parsed by :func:`.yaml_rules.parse_option_value`) to
    ``options`` (an :class:`OptionFile`) in place; a key the file does not have is added, with its sections."""
    for entry in entries or []:
        if entry.count('=') != 1:
            raise InputError(f'--force_yml {entry!r} must have the form key:subkey=value, e.g. train:total_iter=1000')
        keys, text = (part.strip() for part in entry.split('='))
        try:
            value = parse_option_value(text)
        except yaml.YAMLError as error:
            tag = _refused_tag(error)
            problem = f'the tag {tag} is refused (it would construct a Python object)' if tag else _yaml_problem(
                error)[1]
            raise InputError(f'--force_yml {entry!r}: the value is not valid YAML: {problem}. Write a plain value, '
                             'e.g. 1e-4, -1, true, ~ or [0.9, 0.99].') from None
        node, keys = options.opt, keys.split(':')
        for depth, key in enumerate(keys[:-1]):
            if node.get(key) is None:  # absent, or ~
                node[key] = OrderedDict()
            node = node[key]
            if not isinstance(node, dict):
                raise InputError(f'--force_yml {entry!r}: option {":".join(keys[:depth + 1])!r} of {options.path!r} '
                                 f'is {node!r}, not a section with keys.')
        node[keys[-1]] = value
        options.forced.add(tuple(keys))
    return options
