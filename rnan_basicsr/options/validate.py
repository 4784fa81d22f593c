"""Checking an option file against the declared options (:mod:`.schema`, registered sections typed by
:func:`~.registered.typed`): one line per mistake, with ``file:line:column``, built from pydantic's error (its type,
location and context) and the keys the declared type at that location holds (the did-you-mean).
"""
from os import path as osp
from pydantic import Tag, ValidationError
from typing import Annotated, Union, get_args, get_origin

from rnan_basicsr.options.loader import OptionFile
from rnan_basicsr.options.registered import registered_types, typed
from rnan_basicsr.options.schema import Options, TestFile, TrainingFile
from rnan_basicsr.options.yaml_rules import number_hint
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean

SCALAR_ERRORS = ('int_type', 'float_type', 'bool_type', 'string_type', 'literal_error')
#: what a value must be, by pydantic error type; the error's context fills the braces
EXPECTED = {
    'int_type': 'an integer', 'int_from_float': 'an integer', 'float_type': 'a number', 'bool_type': 'true or false',
    'string_type': 'a string', 'dict_type': 'a mapping', 'model_type': 'a mapping', 'list_type': 'a list',
    'literal_error': '{expected}', 'greater_than': '> {gt}', 'greater_than_equal': '>= {ge}', 'less_than': '< {lt}',
    'less_than_equal': '<= {le}', 'too_short': 'a list of at least {min_length} item(s)'
}  # yapf: disable


def unknown_type(key, registry, type_name, names):
    """The message of a ``type`` (at ``key``) that BasicSR's ``registry`` does not hold among its ``names``, with
    where basicsr and this package were imported from (the type may be in a second copy)."""
    import basicsr

    from rnan_basicsr.version import __version__
    return (f"{key} '{type_name}' is not in BasicSR's '{registry}' registry.{did_you_mean(type_name, names)} "
            f"Registered there: {', '.join(names)}. basicsr {getattr(basicsr, '__version__', '?')} was imported from "
            f'{osp.dirname(basicsr.__file__)}, rnan_basicsr {__version__} from {osp.dirname(osp.dirname(__file__))}. '
            'If the type comes from another plugin, that plugin must be imported before the pipeline runs.')


def _alternatives(node):
    """``(label, type)`` of what a declared type may be: each member of a union, labelled as in pydantic's error
    locations (its tag, or its class name), else the type itself."""
    label = next((mark.tag for mark in getattr(node, '__metadata__', ()) if isinstance(mark, Tag)), None)
    while get_origin(node) is Annotated:
        node = get_args(node)[0]
    if get_origin(node) is Union:
        return [pair for member in get_args(node) for pair in _alternatives(member)]
    return [(label or getattr(node, '__name__', None), node)]


def _section_at(model, loc):
    """The declared section (its class) at the location ``loc`` of an error of ``model``."""
    nodes = [model]
    for key in loc:
        nodes = [node if label == key else get_args(node)[-1] if get_origin(node) in (dict, list) else
                 node.model_fields[key].annotation for one in nodes for label, node in _alternatives(one)
                 if label == key or get_origin(node) in (dict, list) or key in getattr(node, 'model_fields', ())]
    return next(node for one in nodes for _, node in _alternatives(one) if hasattr(node, 'model_fields'))


def _data_path(opt, loc):
    """The part of a pydantic location that indexes into the options (union member names dropped)."""
    path, node = [], opt
    for key in loc:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            continue
        path.append(key)
    return tuple(path)


def _other_shape(item, tagged):
    """True for the error of a union member (``tagged``: its location ends with the member's name) that expected a
    scalar where the value is a list or mapping, or a mapping where it is one: another member matches the shape."""
    value = item.get('input')
    if item['type'] in ('dict_type', 'model_type'):
        return isinstance(value, dict)
    return tagged and isinstance(value, (list, dict)) and item['type'] in SCALAR_ERRORS


def _dotted(path):
    return '.'.join(str(key) for key in path) or '(the file)'


def _expected(item):
    """What the value of an error must be: ``an integer``, ``>= 1``, ``'none', 'mean' or 'sum'``."""
    template = EXPECTED.get(item['type'])
    ctx = {key: int(value) if isinstance(value, float) and value.is_integer() else value  # a bound 0.0 as 0
           for key, value in (item.get('ctx') or {}).items()}
    return template.format(**ctx) if template else item['msg']


def _message(item, options, path, model):
    """The line of one error (``path``: its key in the options; ``model``: the declared file)."""
    kind, value = item['type'], item.get('input')
    where = options.where(path)
    forced = ' (set by --force_yml)' if path in options.forced else ''
    dotted = _dotted(path)
    if kind == 'extra_forbidden':
        forced = ' (set by --force_yml)' if options.forced_within(path) else ''
        section = _section_at(model, item['loc'][:-1])
        if path[-1] in section.overridden:
            return f'{where}: {dotted} is refused: {section.overridden[path[-1]]}{forced}.'
        owner = section.owner or (_dotted(path[:-1]) if len(path) > 1 else 'the option file')
        known = [key for key in section.model_fields if not (section.owner and key == 'type')]
        return (f'{where}: {dotted} is not an option of {owner}{forced}.{did_you_mean(path[-1], known)} Its options: '
                f'{", ".join(known)}.')
    if path == ('name', ) and kind == 'string_type':
        return (f'{where}: name must be a string usable as a folder name, got {type(value).__name__} {value!r}: quote '
                f"it, name: '{value}'")
    if path == ('name', ) and kind == 'string_pattern_mismatch':
        return (f"{where}: name {value!r} must be one folder name (experiments/<name>): not empty, no '/' or "
                "'\\', not '.' or '..'; e.g. name: my_experiment")
    if kind == 'missing':
        return f'{where}: {dotted} is missing; add it.'
    if kind.startswith('registered_'):  # a registered section whose type is missing or unknown
        registry, written = kind[len('registered_'):], value.get('type') if isinstance(value, dict) else None
        if not isinstance(value, dict):
            return f'{where}: {dotted} must be a mapping, got {value!r}{forced}.'
        if not isinstance(written, str):
            return f'{where}: {dotted}.type must name a registered {registry} type (a string), got {written!r}.'
        names = list(registered_types(registry))
        return f'{options.where(path + ("type", ))}: {unknown_type(f"{dotted}.type", registry, written, names)}'
    return f'{where}: {dotted} must be {_expected(item)}, got {value!r}{forced}{number_hint(value)}.'


def _validated(options, model):
    """``(the validated options or None, their mistakes)``: :func:`declared_errors`."""
    try:
        return typed(model).model_validate(options.opt), []
    except ValidationError as error:
        items = error.errors(include_url=False)
    grouped = {}
    for item in items:
        path = _data_path(options.opt, item['loc'])
        if _other_shape(item, tagged=not path or item['loc'][-1] != path[-1]):
            continue  # a union member that expected another shape; the matching member reports its own mistake
        if item['type'] == 'missing':  # the key is not in the data: name it after its parent
            path += (item['loc'][-1], )
        grouped.setdefault((path, item['type'] == 'extra_forbidden' or path == ('name', )), []).append(item)
    found = []
    for (path, is_key), items in grouped.items():
        first = items[0]
        if len(items) > 1 and not is_key:  # a union: every alternative says what it expected
            first = dict(first, type='union', msg=' or '.join(dict.fromkeys(_expected(i) for i in items)))
        position = options.positions.get(path) or (10**9, 0)
        found.append((position, is_key, _message(first, options, path, typed(model))))
    return None, [(is_key, message) for _, is_key, message in sorted(found, key=lambda entry: entry[0])]


def _option_file(options):
    return options if isinstance(options, OptionFile) else OptionFile('options', options)


def declared_errors(options, model=Options):
    """Every mistake of ``options`` (an OptionFile, or a dict: messages then name the key only) against ``model``,
    as ``(is_key_error, message)`` sorted by file position."""
    return _validated(_option_file(options), model)[1]


def _integral(raw, validated):
    """``raw`` with every float the declared options read as an integer (``1.3e6``) replaced by that integer (in
    place), so that BasicSR gets ``1300000``; ``validated``: the validated options, dumped."""
    if isinstance(raw, float) and type(validated) is int:
        return validated
    if isinstance(raw, dict) and isinstance(validated, dict):
        keys = raw.keys() & validated.keys()
    elif isinstance(raw, list) and isinstance(validated, list) and len(raw) == len(validated):
        keys = range(len(raw))
    else:
        return raw
    for key in keys:
        raw[key] = _integral(raw[key], validated[key])
    return raw


def check_declared(options, is_train=None, model=None):
    """Raise an InputError for the first mistake of ``options`` (as in :func:`declared_errors`) against the file of
    ``basicsr train`` (``is_train``), ``basicsr test`` (False), either (None) or ``model`` (e.g. a dataset's section),
    key mistakes first (an unknown key is the usual cause of what else looks wrong). An integer written as an
    integral float (``total_iter: 1.3e6``) then becomes that integer in ``options``.

    Returns:
        pydantic.BaseModel: the validated options, every default filled in (what the consumers read).
    """
    options = _option_file(options)
    validated, errors = _validated(options, model or {True: TrainingFile, False: TestFile, None: Options}[is_train])
    for _, message in sorted(errors, key=lambda error: not error[0]):
        raise InputError(message)
    _integral(options.opt, validated.model_dump(exclude_unset=True))
    return validated
