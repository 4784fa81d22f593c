"""Importing BasicSR 1.4.2 on torchvision >= 0.17."""
import importlib
import sys


def alias_functional_tensor():
    """Make ``torchvision.transforms.functional_tensor`` importable again.

    torchvision 0.17 renamed it to ``_functional_tensor``; ``basicsr/data/degradations.py`` still imports the old
    name, so ``import basicsr`` (even ``basicsr.utils.registry``) fails with ModuleNotFoundError. The alias registers
    the renamed module under the old name in ``sys.modules``.
    """
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return False
    try:
        importlib.import_module(name)
        return False
    except ModuleNotFoundError:
        pass
    sys.modules[name] = importlib.import_module('torchvision.transforms._functional_tensor')
    return True
