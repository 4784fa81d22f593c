"""Checking an option file against the declared options: one line per mistake, with ``file:line:column``.

:func:`declared_errors` validates the whole file against :class:`~rnan_basicsr.options.schema.Options` and every
registered-type section against its class (:mod:`.registered`), and returns the mistakes sorted by where they are in
the file. :func:`check_declared` raises the first (key mistakes before value mistakes); the cross-field rules
(:mod:`.rules`) then run on options whose every value has its declared type and range.
"""
import re
from pydantic import ValidationError

from rnan_basicsr.options.loader import OptionFile
from rnan_basicsr.options.registered import options_model
from rnan_basicsr.options.schema import Options, TestFile, TrainingFile
from rnan_basicsr.options.yaml_rules import number_hint
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean

#: error types about keys rather than values
KEY_ERRORS = ('unknown_key', 'overridden_key', 'name_type', 'name_folder')
SCALAR_ERRORS = ('int_type', 'float_type', 'bool_type', 'string_type', 'literal_error')


def _registered_sections(opt):
    """``(key path, kind, mapping)`` of every section whose ``type`` names a registered class."""
    sections = []
    for phase, dataset in (opt.get('datasets') or {}).items() if isinstance(opt.get('datasets'), dict) else ():
        sections.append((('datasets', phase), 'dataset', dataset))
    for key in ('network_g', 'network_d'):
        sections.append(((key, ), 'arch', opt.get(key)))
    train = opt.get('train') if isinstance(opt.get('train'), dict) else {}
    sections += [(('train', 'optim_g'), 'optimizer', train.get('optim_g')),
                 (('train', 'scheduler'), 'scheduler', train.get('scheduler')),
                 (('train', 'pixel_opt'), 'loss', train.get('pixel_opt')),
                 (('train', 'perceptual_opt'), 'loss', train.get('perceptual_opt'))]
    val = opt.get('val') if isinstance(opt.get('val'), dict) else {}
    metrics = val.get('metrics') if isinstance(val.get('metrics'), dict) else {}
    sections += [(('val', 'metrics', name), 'metric', metric) for name, metric in metrics.items()]
    return [(loc, kind, value) for loc, kind, value in sections if isinstance(value, dict)]


def _errors_of(model, data, prefix):
    try:
        model.model_validate(data)
    except ValidationError as error:
        return [dict(item, loc=prefix + tuple(item['loc'])) for item in error.errors(include_url=False)]
    return []


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
    """True for the error of a union member (``tagged``: its location names the member) that expected a scalar
    where the value is a list or mapping, or a mapping where it is one: another member matches the shape."""
    value = item.get('input')
    if item['type'] in ('dict_type', 'model_type'):
        return isinstance(value, dict)
    return tagged and isinstance(value, (list, dict)) and item['type'] in SCALAR_ERRORS


def _dotted(path):
    return '.'.join(str(key) for key in path) or '(the file)'


def _expected(msg):
    """pydantic's "Input should be a valid integer" as "an integer"."""
    msg = msg.replace('Input should be ', '').replace('a valid integer or a valid number', 'a number')
    msg = msg.replace('a valid integer', 'an integer').replace('a valid number', 'a number')
    msg = msg.replace('a valid boolean', 'true or false').replace('a valid string', 'a string')
    msg = re.sub(r'a valid dictionary( or instance of \w+)?', 'a mapping', msg).replace('a valid list', 'a list')
    msg = msg.replace('an integer or a number', 'a number')
    for words, sign in (('greater than or equal to', '>='), ('greater than', '>'), ('less than or equal to', '<='),
                        ('less than', '<')):
        msg = msg.replace(words, sign)
    return msg


def _message(item, options, path):
    kind, ctx = item['type'], item.get('ctx') or {}
    if kind in ('unknown_key', 'overridden_key', 'name_type', 'name_folder'):
        path = path + (ctx['key'], )
    where = options.where(path)
    forced = ' (set by --force_yml)' if path in options.forced else ''
    dotted = _dotted(path)
    if kind == 'unknown_key':
        owner = ctx['owner'] or (_dotted(path[:-1]) if len(path) > 1 else 'the option file')
        known = [key for key in ctx['known'] if not (ctx['owner'] and key == 'type')]
        return (f'{where}: {dotted} is not an option of {owner}.{did_you_mean(ctx["key"], known)} Its options: '
                f'{", ".join(known)}.')
    if kind in ('overridden_key'):
        return f'{where}: {dotted} is refused: {ctx["reason"]}.'
    if kind == 'name_type':
        value = ctx['value']
        return (f'{where}: name must be a string usable as a folder name, got {type(value).__name__} {value!r}: quote '
                f"it, name: '{value}'")
    if kind == 'name_folder':
        return (f"{where}: name {ctx['value']!r} must be one folder name (experiments/<name>): not empty, no '/' or "
                "'\\', not '.' or '..'; e.g. name: my_experiment")
    if kind == 'missing':
        return f'{where}: {dotted} is missing; add it.'
    value = item.get('input')
    expected = _expected(item['msg'])
    return f'{where}: {dotted} must be {expected}, got {value!r}{forced}{number_hint(value)}.'


def declared_errors(options, model=Options):
    """Every mistake against the declared options, as ``(is_key_error, message)`` sorted by file position.

    Args:
        options (OptionFile | dict): The options (a dict has no positions: messages then name the key only).
        model (type): The declared file: :class:`~.schema.Options`, or its ``TrainingFile`` / ``TestFile``.
    """
    if not isinstance(options, OptionFile):
        options = OptionFile('options', options)
    opt = options.opt
    raw = _errors_of(model, opt, ())
    for loc, kind, value in _registered_sections(opt):
        section = options_model(kind, value.get('type'))
        if section is not None:
            raw += _errors_of(section, value, loc)

    grouped = {}
    for item in raw:
        path = _data_path(opt, item['loc'])
        if item['type'] == 'missing':  # the key is not in the data: name it after its parent
            path += (item['loc'][-1], )
        if _other_shape(item, tagged=len(path) < len(item['loc'])):
            continue  # a union member that expected another shape; the matching member reports its own mistake
        grouped.setdefault((path, item['type'] in KEY_ERRORS), []).append(item)
    found = []
    for (path, is_key), items in grouped.items():
        first = items[0]
        if len(items) > 1 and not is_key:  # a union: every alternative says what it expected
            first = dict(first, msg=' or '.join(dict.fromkeys(_expected(i['msg']) for i in items)))
        full = path + ((first['ctx']['key'], ) if first['type'] in KEY_ERRORS else ())
        position = options.positions.get(full) or options.positions.get(path) or (10**9, 0)
        found.append((position, is_key, _message(first, options, path)))
    return [(is_key, message) for _, is_key, message in sorted(found, key=lambda entry: entry[0])]


def _raise_first(errors):
    """Raise an InputError for the first of ``errors`` (from :func:`declared_errors`), key mistakes (unknown or
    overridden keys, a bad ``name``) before value mistakes: an unknown key is the usual cause of what else looks
    wrong."""
    for _, message in sorted(errors, key=lambda error: not error[0]):
        raise InputError(message)


def check_declared(options, is_train=None):
    """Raise an InputError for the first mistake of ``options`` against the declared options.

    Args:
        is_train (bool | None): Check as a ``basicsr train`` file (``train`` and ``logger`` required) or a
            ``basicsr test`` file (``val`` required, ``train`` / ``logger`` refused); None: either.
    """
    _raise_first(declared_errors(options, {True: TrainingFile, False: TestFile, None: Options}[is_train]))


def check_mapping(model, mapping, label):
    """Raise an InputError ``<label>: <key> must be ...`` for the first mistake of ``mapping`` against ``model`` (a
    section checked outside an option file, e.g. a dataset built in Python; ``OptionFile(label, ...)`` names the
    label where a file would give its place)."""
    _raise_first(declared_errors(OptionFile(label, mapping), model))
