"""One meaning per function name: no two modules of the package define the same public function or class, so a name
read in one place means what it means everywhere (``list_images`` was once a folder listing in one module and a
dataset's keys and sizes in another)."""
import ast
import collections
import glob
from os import path as osp

PACKAGE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'rnan_basicsr')
# the same role in every tool (its command line, its entry point, its argument check, its output text)
ROLE_NAMES = {'main', 'build_parser', 'run', 'check_arguments', 'render'}


def test_each_public_name_is_defined_once():
    modules = collections.defaultdict(list)
    for path in sorted(glob.glob(osp.join(PACKAGE, '**', '*.py'), recursive=True)):
        relative = osp.relpath(path, PACKAGE)
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith('_'):
                modules[node.name].append(relative)
    twins = {name: where for name, where in modules.items() if len(where) > 1 and name not in ROLE_NAMES}
    assert twins == {}
