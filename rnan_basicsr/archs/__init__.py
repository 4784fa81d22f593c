# Import every *_arch.py here so that its classes register in BasicSR's arch registry.
from rnan_basicsr.utils.module_scan import import_modules_with_suffix

_arch_modules = import_modules_with_suffix(__name__, __file__, '_arch')
