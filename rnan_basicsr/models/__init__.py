# Import every *_model.py here so that its classes register in BasicSR's model registry.
from rnan_basicsr.utils.module_scan import import_modules_with_suffix

_model_modules = import_modules_with_suffix(__name__, __file__, '_model')
