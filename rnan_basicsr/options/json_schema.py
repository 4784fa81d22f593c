"""The JSON Schema of the option file for editors and generic validators, from the same types as the ``basicsr``
command's check (:func:`~.registered.typed` of :class:`~.schema.Options`, shipped classes only: docs/options.md)."""
import json
from pydantic.json_schema import GenerateJsonSchema

from rnan_basicsr.options.registered import spellings, typed
from rnan_basicsr.options.schema import Options

SCHEMA_FILE_NAME = 'rnan_options.schema.json'
#: the first line of every option file: editors then complete keys and flag typos
YAML_LANGUAGE_SERVER_LINE = f'# yaml-language-server: $schema={SCHEMA_FILE_NAME}'


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema, with tagged unions as one ``if``/``then`` per ``type`` (pydantic writes a ``oneOf``,
    whose every member a generic validator reports: it then names the misspelled key only)."""

    def tagged_union_schema(self, schema):
        choices = {tag: self.generate_inner(choice) for tag, choice in schema['choices'].items()}
        known = [spelling for tag in choices if tag != '*' for spelling in spellings(tag, choices)]
        cases = [{'if': {'required': ['type'], 'properties': {'type': {'enum': list(spellings(tag, choices))}}},
                  'then': choice} for tag, choice in choices.items() if tag != '*']
        if '*' in choices:  # another type: the model judges it
            cases.append({'if': {'properties': {'type': {'not': {'enum': known}}}}, 'then': choices['*']})
        return {'type': 'object', 'required': ['type'], 'allOf': cases,
                'properties': {'type': {'type': 'string'} if '*' in choices else {'enum': known}}}

    def generate(self, schema, mode='validation'):
        return _json_bounds(super().generate(schema, mode))


#: a bound as pydantic names it -> (as JSON Schema does, as docs/options.md writes it); pydantic writes the bound of
#: an :data:`~.schema.Integer` (checked after its conversion) by its own name
BOUNDS = {'ge': ('minimum', '>='), 'gt': ('exclusiveMinimum', '>'), 'le': ('maximum', '<='),
          'lt': ('exclusiveMaximum', '<')}


def _json_bounds(node):
    for value in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        _json_bounds(value)
    if isinstance(node, dict) and node.get('type') == 'integer':
        node.update({BOUNDS[key][0]: node.pop(key) for key in BOUNDS.keys() & node.keys()})
    return node


def build_json_schema():
    """The JSON Schema (draft 2020-12) of an option file, as a dict."""
    schema = typed(Options, shipped_only=True).model_json_schema(schema_generator=_Generator)
    return {'$schema': 'https://json-schema.org/draft/2020-12/schema', **schema}


def json_schema_text():
    """:func:`build_json_schema` as the text of ``options/rnan_options.schema.json``."""
    return json.dumps(build_json_schema(), indent=2, sort_keys=False) + '\n'
