"""Checking an option file against the declared options: one line per mistake, with ``file:line:column``.

:func:`declared_errors` validates the whole file against :class:`~rnan_basicsr.options.schema.Options` and every
registered-type section against its class (:mod:`.registered`), and returns the mistakes sorted by where they are in
the file. The pre-flight reports key mistakes first (:func:`check_declared_keys`: an unknown or overridden
key is usually the cause of whatever else looks wrong), then the cross-field rules run, then
:func:`check_declared_values` reports the first remaining type or range mistake.
"""
from pydantic import ValidationError

from rnan_basicsr.options.loader import OptionFile
from rnan_basicsr.options.registered import options_model
from rnan_basicsr.options.schema import Options
from rnan_basicsr.options.yaml_rules import number_hint
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean

#: error types about keys rather than values
KEY_ERRORS = ('unknown_key', 'overridden_key', 'name_type', 'name_folder')


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


def _dotted(path):
    return '.'.join(str(key) for key in path) or '(the file)'


def _expected(msg):
    """pydantic's "Input should be a valid integer" as "an integer"."""
    msg = msg.replace('Input should be ', '').replace('a valid integer or a valid number', 'a number')
    msg = msg.replace('a valid integer', 'an integer').replace('a valid number', 'a number')
    msg = msg.replace('a valid boolean', 'true or false').replace('a valid string', 'a string')
    return msg.replace('an integer or a number', 'a number')


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


def declared_errors(options):
    """Every mistake against the declared options, as ``(is_key_error, message)`` sorted by file position.

    Args:
        options (OptionFile | dict): The options (a dict has no positions: messages then name the key only).
    """
    if not isinstance(options, OptionFile):
        options = OptionFile('options', options)
    opt = options.opt
    raw = _errors_of(Options, opt, ())
    for loc, kind, value in _registered_sections(opt):
        model = options_model(kind, value.get('type'))
        if model is not None:
            raw += _errors_of(model, value, loc)

    grouped = {}
    for item in raw:
        path = _data_path(opt, item['loc'])
        if item['type'] in ('dict_type', 'model_type') and isinstance(item.get('input'), dict):
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


def check_declared_keys(options):
    """Raise an InputError for the first unknown or overridden key, or a bad ``name``."""
    for is_key, message in declared_errors(options):
        if is_key:
            raise InputError(message)


def check_declared_values(options):
    """Raise an InputError for the first mistake against the declared options."""
    for _, message in declared_errors(options):
        raise InputError(message)
