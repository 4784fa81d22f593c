"""Option files: read with a safe YAML loader, ``--force_yml`` values parsed as YAML instead of ``eval``.

BasicSR's ``ordered_yaml()`` returns PyYAML's full ``Loader``: a ``!!python/object/apply:os.system [...]`` tag in an
option file runs a command while the file is read. Option files travel between people like checkpoints do, so
every option file BasicSR or this package reads goes through :class:`OptionLoader`: PyYAML's safe loader (plain
YAML, ``!!float``, ``~``, lists) with mappings kept in file order as BasicSR expects. BasicSR's ``--force_yml``
turns ``[1, 2]`` into a list with ``eval``; :func:`parse_option_value` parses YAML instead, and reads numbers
(negative ones and ``1e-4`` too) as numbers.
"""
import re
import yaml
from collections import OrderedDict

from rnan_basicsr.compat._patching import is_patched, mark

_BaseLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
# YAML 1.1 reads 1e-4 (no dot) as a string; on a command line it is meant as a number
_NUMBER = re.compile(r'^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$')


class OptionLoader(_BaseLoader):
    """PyYAML's safe loader with mappings as ``OrderedDict``: no tag can construct a Python object."""


def _ordered_mapping(loader, node):
    return OrderedDict(loader.construct_pairs(node, deep=True))


OptionLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _ordered_mapping)


def parse_option_value(text):
    """A ``--force_yml`` value as YAML: ``~``/``none`` -> None, ``true``, ``-5`` -> -5, ``1e-4`` -> 0.0001,
    ``[0.9, 0.99]`` -> a list, anything else a string.

    Raises:
        yaml.YAMLError: the text is not valid YAML (e.g. an unclosed ``[``), or uses a Python tag.
    """
    text = text.strip()
    if text.lower() == 'none':  # BasicSR's spelling of null
        return None
    value = yaml.load(text, Loader=OptionLoader) if text else ''
    if isinstance(value, str) and _NUMBER.match(value):
        value = float(value)
    return value


def patch_safe_yaml():
    """Make ``basicsr.utils.options.ordered_yaml()`` return :class:`OptionLoader` (with BasicSR's own Dumper)."""
    import basicsr.utils.options as basicsr_options

    original = basicsr_options.ordered_yaml
    if is_patched(original):
        return False

    def ordered_yaml():
        return OptionLoader, original()[1]

    basicsr_options.ordered_yaml = mark(ordered_yaml)
    return True


def patch_force_yml_values():
    """Parse ``--force_yml`` values of BasicSR's own ``parse_options`` with :func:`parse_option_value`."""
    import basicsr.utils.options as basicsr_options

    if is_patched(basicsr_options._postprocess_yml_value):
        return False
    basicsr_options._postprocess_yml_value = mark(parse_option_value)
    return True
