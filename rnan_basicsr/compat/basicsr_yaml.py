"""BasicSR's own option reading, replaced by ours: ``ordered_yaml()`` and the ``--force_yml`` value parser.

BasicSR's ``ordered_yaml()`` returns PyYAML's full ``Loader``: a ``!!python/object/apply:os.system [...]`` tag in an
option file runs a command while the file is read; its ``--force_yml`` turns ``[1, 2]`` into a list with ``eval``.
Option files travel between people like checkpoints do, so BasicSR's ``parse_options`` (and its scripts) read them
with :class:`~rnan_basicsr.options.yaml_rules.OptionLoader` and parse ``--force_yml`` values with
:func:`~rnan_basicsr.options.yaml_rules.parse_option_value`: the same YAML rules as the ``basicsr`` command. Applied
by :func:`rnan_basicsr.compat.apply`.
"""
from rnan_basicsr.compat._patching import is_patched, mark
from rnan_basicsr.options.yaml_rules import OptionLoader, parse_option_value


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
