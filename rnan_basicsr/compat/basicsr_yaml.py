"""BasicSR's ``parse_options`` with the ``basicsr`` command's YAML rules: its ``ordered_yaml()`` returns PyYAML's full
``Loader`` (a ``!!python`` tag in an option file runs code) and its ``--force_yml`` values are ``eval``-ed."""
from rnan_basicsr.compat._patching import replace
from rnan_basicsr.options.yaml_rules import OptionLoader, parse_option_value


def patch_safe_yaml():
    """Make ``basicsr.utils.options.ordered_yaml()`` return :class:`OptionLoader` (with BasicSR's own Dumper)."""
    import basicsr.utils.options as basicsr_options

    original = basicsr_options.ordered_yaml

    def ordered_yaml():
        return OptionLoader, original()[1]

    return replace(basicsr_options, 'ordered_yaml', ordered_yaml)


def patch_force_yml_values():
    """Parse ``--force_yml`` values of BasicSR's own ``parse_options`` with :func:`parse_option_value`."""
    import basicsr.utils.options as basicsr_options

    return replace(basicsr_options, '_postprocess_yml_value', parse_option_value)
