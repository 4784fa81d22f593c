"""The JSON Schema of the option file, for editors (VS Code's YAML extension, any YAML language server).

Generated from :class:`~rnan_basicsr.options.schema.Options`: each section whose ``type`` names a registered class
becomes a ``oneOf`` of that kind's classes, told apart by their ``type`` constant. The shipped file
(``options/rnan_options.schema.json``) lists the classes of BasicSR and this plugin only, so that it does not depend
on what else is installed, and leaves an optimizer's arguments (which change with torch) open; the ``basicsr`` command
checks other plugins' classes and the installed torch's optimizers too.
"""
import json

from rnan_basicsr.options.registered import options_model, registered_types
from rnan_basicsr.options.schema import Options

SCHEMA_FILE_NAME = 'rnan_options.schema.json'
#: the first line of every option file: editors then complete keys and flag typos
YAML_LANGUAGE_SERVER_LINE = f'# yaml-language-server: $schema={SCHEMA_FILE_NAME}'


def _merge_defs(schema, defs):
    """Move a model schema's ``$defs`` into the shared ``defs`` (their ``$ref`` paths stay valid at the top)."""
    defs.update(schema.pop('$defs', {}))
    return schema


#: optimizers' arguments change with the installed torch (the command checks them against it): the shipped schema
#: names only what every torch.optim optimizer takes
OPTIMIZER_SCHEMA = {
    'type': 'object',
    'required': ['type', 'lr'],
    'properties': {
        'type': {
            'type': 'string',
            'description': 'a torch.optim optimizer (Adam, AdamW, SGD...); SRModel builds Adam only'
        },
        'lr': {
            'type': 'number',
            'exclusiveMinimum': 0,
            'description': 'learning rate'
        }
    },
    'additionalProperties': True,
    'description': 'the other keys are the optimizer\'s arguments in the installed torch (checked by basicsr train)'
}


def _kind_schema(kind, defs):
    """``oneOf`` the schemas of every shipped class of ``kind``, each stored in ``$defs`` as ``<kind>.<type>``."""
    if kind == 'optimizer':
        return dict(OPTIMIZER_SCHEMA)
    choices = []
    for name in registered_types(kind, shipped_only=True):
        model = options_model(kind, name)
        if model is None:
            continue
        key = f'{kind}.{name}'
        defs[key] = _merge_defs(model.model_json_schema(), defs)
        choices.append({'$ref': f'#/$defs/{key}'})
    return {'type': 'object', 'required': ['type'], 'oneOf': choices}


def _replace_registered(node, defs, kinds):
    """Replace every ``x-registered`` placeholder below ``node`` by the schema of its kind (in place)."""
    if isinstance(node, dict):
        kind = node.pop('x-registered', None)
        if kind is not None:
            if kind not in kinds:
                kinds[kind] = _kind_schema(kind, defs)
            by_type = {'$ref': f'#/$defs/{kind}'}
            description = node.get('description')
            nullable = 'anyOf' in node
            node.clear()
            if kind in ('dataset', 'metric'):  # a mapping of them: datasets by phase, metrics by name
                by_type = {'type': 'object', 'additionalProperties': by_type}
            node.update({'anyOf': [by_type, {'type': 'null'}]} if nullable else by_type)
            if description:
                node['description'] = description
            return
        for value in list(node.values()):
            _replace_registered(value, defs, kinds)
    elif isinstance(node, list):
        for value in node:
            _replace_registered(value, defs, kinds)


def build_json_schema():
    """The JSON Schema (draft 2020-12) of an option file, as a dict."""
    schema = Options.model_json_schema()
    defs = schema.pop('$defs', {})
    kinds = {}
    _replace_registered(schema, defs, kinds)
    for name in list(defs):
        _replace_registered(defs[name], defs, kinds)
    defs.update(kinds)
    return {
        '$schema': 'https://json-schema.org/draft/2020-12/schema',
        'title': 'rnan_basicsr option file (basicsr train / basicsr test)',
        **schema, '$defs': dict(sorted(defs.items()))
    }


def json_schema_text():
    """:func:`build_json_schema` as the text of ``options/rnan_options.schema.json``."""
    return json.dumps(build_json_schema(), indent=2, sort_keys=False) + '\n'
