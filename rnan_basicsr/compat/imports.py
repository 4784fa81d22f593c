"""Importing BasicSR 1.4.2 on torchvision >= 0.17."""
import importlib.util
import sys


def alias_functional_tensor():
    """Register ``torchvision.transforms._functional_tensor`` (renamed in torchvision 0.17) under the old name that
    ``basicsr/data/degradations.py`` imports, without which no BasicSR module imports."""
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules or importlib.util.find_spec(name) is not None:
        return False
    sys.modules[name] = importlib.import_module('torchvision.transforms._functional_tensor')
    return True
