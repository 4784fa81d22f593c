"""The package reads one way: no import cycle among rnan_basicsr's modules, counting imports written inside functions,
and no module imports one of a higher layer (the order of docs/architecture.md)."""
import ast
import os
import pytest
from os import path as osp

PACKAGE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'rnan_basicsr')

#: lowest first; a module may import its own layer and those before it
LAYERS = [
    ('utils', 'version'),
    ('archs', ),
    ('tasks', 'paper_results', 'authors_protocol'),
    ('options', ),
    ('data', ),
    ('weights', ),
    ('test_time', 'precision', 'chop'),
    ('models', ),
    ('compat', ),
    ('command', 'cli'),
    ('tools', 'spandrel'),
]


def _modules():
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                parts = ['rnan_basicsr'] + osp.relpath(path, PACKAGE)[:-3].split(osp.sep)
                found['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return found


MODULES = _modules()


def _resolve(name):
    while name not in MODULES and '.' in name:
        name = name.rsplit('.', 1)[0]
    return name if name in MODULES else None


def imports_of(module):
    """The rnan_basicsr modules ``module`` imports anywhere in its file (module level or inside functions)."""
    path = MODULES[module]
    package = module if path.endswith('__init__.py') else module.rsplit('.', 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f'{base}.{alias.name}' for alias in node.names]
        else:
            continue
        targets.update(_resolve(name) for name in names if name.startswith('rnan_basicsr'))
    return targets - {None, module, 'rnan_basicsr'}


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module):
    top = module.split('.')[1] if module.count('.') else ''
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    return None


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if layer_of(m) is None and m.split('.')[-1] not in ('rnan_basicsr', '__main__')]
    assert unplaced == []


def test_no_module_imports_a_higher_layer():
    upward = sorted(f'{module} -> {target}' for module, targets in GRAPH.items() for target in targets
                    if layer_of(module) is not None and layer_of(target) is not None
                    and layer_of(target) > layer_of(module))
    assert upward == []


def test_no_import_cycle():
    done, on_path, cycles = set(), [], []

    def visit(module):
        if module in on_path:
            cycles.append(on_path[on_path.index(module):] + [module])
            return
        if module in done:
            return
        on_path.append(module)
        for target in sorted(GRAPH[module]):
            visit(target)
        on_path.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)
    assert cycles == []


@pytest.mark.parametrize('source, expected', [
    ('from rnan_basicsr.models.rnan_model import RNANModel', {'rnan_basicsr.models.rnan_model'}),
    ('def f():\n    from rnan_basicsr import weights', {'rnan_basicsr.weights'}),
])
def test_imports_inside_functions_count(source, expected, tmp_path, monkeypatch):
    path = tmp_path / 'probe.py'
    path.write_text(source)
    probe = '.'.join(['rnan_basicsr', 'tools', 'probe'])  # (not a dotted reference test_version would import)
    monkeypatch.setitem(MODULES, probe, str(path))
    assert imports_of(probe) == expected
