import importlib
import os
from os import path as osp


def import_modules_with_suffix(package_name, package_file, suffix):
    """Import every ``<name><suffix>.py`` beside ``package_file`` as ``<package_name>.<name><suffix>``, in name
    order: how the plugin fills BasicSR's registries (their ``@ARCH_REGISTRY.register()`` decorators run)."""
    folder = osp.dirname(osp.abspath(package_file))
    names = sorted(osp.splitext(name)[0] for name in os.listdir(folder) if name.endswith(f'{suffix}.py'))
    return [importlib.import_module(f'{package_name}.{name}') for name in names]
