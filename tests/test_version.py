"""rnan_basicsr/version.py is the one place of the package's version and of the BasicSR range it supports."""
import setuptools

import importlib
import os
import pytest
import re
import runpy
import subprocess
from os import path as osp
from packaging.specifiers import SpecifierSet

from rnan_basicsr import compat
from rnan_basicsr.version import BASICSR_SPECIFIER, __version__

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def setup_kwargs():
    """The keyword arguments setup.py passes to ``setuptools.setup``, read without installing anything."""
    captured = {}
    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        runpy.run_path(osp.join(ROOT, 'setup.py'), run_name='__main__')
    finally:
        setuptools.setup = original
    return captured


def test_setup_declares_the_basicsr_range_the_import_check_enforces(setup_kwargs):
    basicsr_requirements = [r for r in setup_kwargs['install_requires'] if re.match(r'basicsr\b', r)]
    assert basicsr_requirements == ['basicsr' + BASICSR_SPECIFIER]
    assert compat.SUPPORTED_BASICSR == SpecifierSet(BASICSR_SPECIFIER)
    assert setup_kwargs['version'] == __version__


def _python_sources():
    for folder in ('rnan_basicsr', 'scripts', 'tests'):
        for dirpath, _, files in os.walk(osp.join(ROOT, folder)):
            yield from (osp.join(dirpath, f) for f in files if f.endswith('.py'))


def test_dotted_references_to_the_package_name_real_modules():
    """A docstring naming a module or function of the package points at one that exists (a module once moved left stale
    references behind)."""
    missing = set()
    for path in _python_sources():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for reference in set(re.findall(r'\brnan_basicsr(?:\.[a-z_]+)+', text)):
            parts = reference.split('.')
            # the longest importable prefix must leave at most one name (a function or class of that module)
            for end in range(len(parts), 0, -1):
                try:
                    module = importlib.import_module('.'.join(parts[:end]))
                except ImportError:
                    continue
                if end < len(parts) and (end < len(parts) - 1 or not hasattr(module, parts[end])):
                    missing.add(f'{osp.relpath(path, ROOT)}: {reference}')
                break
    assert not missing, sorted(missing)


def test_no_log_file_is_tracked():
    try:
        tracked = subprocess.run(['git', 'ls-files', '*.log'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.skip('git is not installed')
    if tracked.returncode != 0:
        pytest.skip('not a git checkout')
    assert tracked.stdout.split() == []
