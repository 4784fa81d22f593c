# Import every *_dataset.py here so that its classes register in BasicSR's dataset registry.
from rnan_basicsr.utils.module_scan import import_modules_with_suffix

_dataset_modules = import_modules_with_suffix(__name__, __file__, '_dataset')
