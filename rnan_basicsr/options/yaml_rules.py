"""The one YAML loader of option files (the ``basicsr`` command, BasicSR's ``parse_options``, the tools); its rules are
listed in docs/options.md: safe (no tag constructs a Python object), ordered mappings, ``1e-4`` a float (YAML 1.2),
duplicate keys refused with both lines, merge keys, aliases bounded by :func:`check_expansion`.
"""
import re
import yaml
from collections import OrderedDict

_BaseLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)

#: a file may hold at most this many times as many nodes once its aliases are expanded as it writes out
MAX_EXPANSION = 10
#: ... but small files may always reuse a few anchors
MIN_EXPANDED_NODES = 1000

# YAML 1.2 floats with an exponent and no dot (1e-4, -2E+3), which YAML 1.1 (PyYAML) reads as strings
_EXPONENT_FLOAT = re.compile(r'^[-+]?(?:[0-9][0-9_]*)?\.?[0-9_]*[eE][-+]?[0-9]+$')
_LOOKS_NUMERIC = re.compile(r'^[-+]?(\d|\.\d)')


class YAMLRuleError(yaml.MarkedYAMLError):
    """Valid YAML that breaks one of the rules above (a duplicate key, too many expanded aliases, a cycle)."""

    def __init__(self, problem, mark):
        super().__init__(problem=problem, problem_mark=mark)


class OptionLoader(_BaseLoader):
    """PyYAML's safe loader with ordered mappings, merge keys, duplicate keys refused and ``1e-4`` a float."""


OptionLoader.add_implicit_resolver('tag:yaml.org,2002:float', _EXPONENT_FLOAT, list('-+0123456789.'))


_MERGE_TAG = 'tag:yaml.org,2002:merge'


def _explicit_keys(node):
    """The key nodes written in a mapping node, not brought in by a merge key."""
    return [key for key, _ in node.value if key.tag != _MERGE_TAG]


def _ordered_mapping(loader, node):
    # a merged mapping may have been flattened already (by its user's flatten_mapping): compose() kept its own keys
    explicit = getattr(node, 'explicit_keys', None) or _explicit_keys(node)
    loader.flatten_mapping(node)  # merge keys: '<<' pairs become the merged mapping's pairs, before the explicit ones
    seen = {}
    for key_node in explicit:
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value in seen:
                first = seen[key_node.value]
                raise YAMLRuleError(
                    f'duplicate key {key_node.value!r} on line {first.line + 1} and again on line '
                    f'{key_node.start_mark.line + 1} (a plain YAML reader keeps the second silently): remove or merge '
                    'one of them',
                    key_node.start_mark)
            seen[key_node.value] = key_node.start_mark
    return OrderedDict(loader.construct_pairs(node, deep=True))


OptionLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _ordered_mapping)


def tag_name(tag):
    """A tag as written in YAML: ``tag:yaml.org,2002:python/x`` -> ``!!python/x``; a local ``!python/x`` as is."""
    prefix = 'tag:yaml.org,2002:'
    return '!!' + tag[len(prefix):] if tag.startswith(prefix) else tag


def check_expansion(node):
    """Raise ``yaml.YAMLError`` if aliases refer to themselves or expand ``node`` beyond the bound (a billion-laughs
    file would reach gigabytes when BasicSR prints the options); a shared node counts once per use, memoised. Each
    mapping keeps its ``explicit_keys`` (before a merge key flattens it) for the duplicate-key rule."""
    sizes, active, uses, nodes = {}, set(), {}, {}

    def expanded(current):
        key = id(current)
        uses[key] = uses.get(key, 0) + 1
        if key in sizes:
            return sizes[key]
        nodes[key] = current
        if key in active:
            raise YAMLRuleError('an alias refers to the node that contains it (a cycle): write the value out',
                                current.start_mark)
        active.add(key)
        children = []
        if isinstance(current, yaml.MappingNode):
            current.explicit_keys = _explicit_keys(current)
            children = [child for pair in current.value for child in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = current.value
        sizes[key] = 1 + sum(expanded(child) for child in children)
        active.discard(key)
        return sizes[key]

    total, written = expanded(node), len(sizes)
    limit = max(MIN_EXPANDED_NODES, MAX_EXPANSION * written)
    if total > limit:  # point at the anchor whose repeats add the most: the largest of the nested ones
        anchor = max((key for key in uses if uses[key] > 1), key=lambda key: (uses[key] - 1) * sizes[key])
        raise YAMLRuleError(
            f'its aliases expand {written} nodes to {total} (more than {limit}, {MAX_EXPANSION}x what is '
            f'written); the anchor here is used {uses[anchor]} times, {sizes[anchor]} nodes each: write the repeated '
            'values out, or use anchors without nesting them', nodes[anchor].start_mark)


def compose(text):
    """The node tree of one YAML document (None for an empty one), with every rule above checked but duplicates
    (checked while constructing). Raises ``yaml.YAMLError``."""
    loader = OptionLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        check_expansion(node)
    return node


def construct(node):
    """The Python value of a node tree made by :func:`compose` (ordered mappings). Raises ``yaml.YAMLError``."""
    if node is None:
        return None
    loader = OptionLoader('')
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load(text):
    """:func:`compose` then :func:`construct`: the options of a YAML text, with every rule checked."""
    return construct(compose(text))


def number_hint(value):
    """For a string where a number was expected (``1e-4x``, ``0.5.``): how YAML read it and what a number looks
    like; '' for anything else."""
    if isinstance(value, str) and _LOOKS_NUMERIC.match(value.strip()):
        return (f' (YAML reads {value!r} as a string, not a number: a float looks like 1e-4, 2.5e-4 or 0.0001, an '
                'integer like 300000)')
    return ''


def parse_option_value(text):
    """A ``--force_yml`` value as YAML (``none`` is None too, ``''`` a string); raises ``yaml.YAMLError``."""
    text = text.strip()
    if text.lower() == 'none':  # BasicSR's spelling of null
        return None
    return load(text) if text else ''
