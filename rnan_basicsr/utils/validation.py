"""Leaf helpers for checking option values (each InputError names the key and a value that works); they import
nothing of this package but ``utils.errors``."""
import difflib
import os
from os import path as osp

from rnan_basicsr.utils.errors import InputError


def is_int(value):
    """True for an int that is not a bool (YAML's ``true`` is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def did_you_mean(name, known):
    """`` Did you mean 'x'?`` for the closest of ``known`` to ``name``, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" Did you mean '{close[0]}'?" if close else ''


def check_known_keys(mapping, known, where, what='Allowed'):
    """Raise an InputError for the first key of ``mapping`` not in ``known``, with "did you mean" and the list."""
    for key in mapping:
        if key not in known:
            raise InputError(f'{where} has an unknown key {key!r}.{did_you_mean(key, known)} {what}: '
                             f'{", ".join(map(str, known))}.')


def relative_to_cwd(path):
    """`` (relative to <cwd>)`` for a relative path, '' for an absolute one: where a relative path is read from."""
    return '' if osp.isabs(path) else f' (relative to {os.getcwd()})'


def is_lmdb(folder):
    """True if ``folder`` looks like an LMDB environment (a folder with ``data.mdb``)."""
    return osp.isfile(osp.join(folder, 'data.mdb'))


def check_path_exists(path, key, label, kind='folder or .lmdb'):
    """Raise an :class:`InputError` naming ``label``'s ``key`` unless ``path`` is a string that exists (a relative
    path is shown with the folder it is relative to)."""
    if not isinstance(path, str) or not path:
        raise InputError(f'{label}: {key} must be a path ({kind}), got {path!r}.', key=(key, ))
    if not osp.exists(path):
        raise InputError(f'{label}: {key} {path!r} does not exist{relative_to_cwd(path)}. Point it to the {kind} of '
                         'the images (prepare the data first; see docs/data.md).', key=(key, ))


def check_level(opt, level, label):
    """``(low, high)`` of the degradation level ``opt[level.name]`` (a :class:`rnan_basicsr.tasks.Level`), declared
    as a number (an integer) or a list of them: one value or a ``[low, high]`` range within the level's bounds;
    ``label`` names the options (``datasets.train (DIV2K)``)."""
    key, minimum, maximum, example = level.name, level.minimum, level.maximum, level.example
    value = opt[key]
    is_range = isinstance(value, (list, tuple))
    if is_range and (len(value) != 2 or value[0] > value[1]):
        kind = 'an integer' if level.integer else 'a number'
        raise InputError(f'{label}: {key} as a range must be [low, high] with low <= high, each {kind} in '
                         f'{minimum}..{maximum}; got {value!r}. e.g. {key}: {example}', key=(key, ))
    low, high = value if is_range else (value, value)
    if low < minimum or high > maximum:
        raise InputError(f'{label}: {key} {value!r} is out of range: it must lie in {minimum}..{maximum}; '
                         f'e.g. {key}: {example}', key=(key, ))
    return low, high
