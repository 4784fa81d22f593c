"""Write the option file's JSON Schema and its reference page from the declared options.

    python scripts/generate_schema.py            # (re)write options/rnan_options.schema.json and docs/options.md
    python scripts/generate_schema.py --check    # write nothing; exit 1 if either differs from the code
    python scripts/generate_schema.py --link my_runs/train_mine.yml   # point a copied option file at the schema

Both come from :mod:`rnan_basicsr.options.schema` (and the signatures of the registered classes): edit the schema,
then rerun this.
"""
import argparse
import sys
from os import path as osp

from rnan_basicsr.utils.atomic import atomic_write
from rnan_basicsr.utils.script_util import differing_texts

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def generated_files(root=ROOT):
    """``{path: text}`` of the generated files under ``root``."""
    import rnan_basicsr  # noqa: F401  (fills BasicSR's registries)
    from rnan_basicsr.options.json_schema import SCHEMA_FILE_NAME, json_schema_text
    from rnan_basicsr.options.reference import options_reference

    return {
        osp.join(root, 'options', SCHEMA_FILE_NAME): json_schema_text(),
        osp.join(root, 'docs', 'options.md'): options_reference()
    }


def link(path, root=ROOT):
    """Write (or replace) the first line of the option file ``path``, and return it: the yaml-language-server
    modeline with the schema's path relative to the file, so that a copy anywhere keeps its editor checks."""
    from rnan_basicsr.options.json_schema import SCHEMA_FILE_NAME, YAML_LANGUAGE_SERVER_LINE

    schema = osp.relpath(osp.join(root, 'options', SCHEMA_FILE_NAME), osp.dirname(osp.abspath(path)))
    line = YAML_LANGUAGE_SERVER_LINE.replace(SCHEMA_FILE_NAME, schema.replace(osp.sep, '/'))
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines(keepends=True)
    if lines and lines[0].startswith(YAML_LANGUAGE_SERVER_LINE.split('=')[0]):
        lines = lines[1:]
    with atomic_write(path, 'w', encoding='utf-8') as f:
        f.write(''.join([line + '\n'] + lines))
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=ROOT, help=f'the repository (default: {ROOT})')
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 listing the files that differ')
    parser.add_argument('--link', nargs='+', metavar='OPTION_FILE', help='write only the first line of these option '
                        'files: the schema, by its path relative to each (for copies outside options/)')
    args = parser.parse_args(argv)
    for path in args.link or []:
        print(f'{path}: {link(path, args.root)}')
    if args.link:
        return 0
    texts = generated_files(args.root)
    differ = differing_texts(texts)
    if args.check:
        for path in differ:
            print(f'{path} differs from the declared options: run python scripts/generate_schema.py', file=sys.stderr)
        return 1 if differ else 0
    for path in differ:
        with atomic_write(path, 'w', encoding='utf-8') as f:
            f.write(texts[path])
    print(f'Wrote {len(differ)} of {len(texts)} files' + (f': {", ".join(differ)}' if differ else ' (all were up to '
                                                          'date).'))
    return 0
