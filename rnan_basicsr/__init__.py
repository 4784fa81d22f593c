"""RNAN (Residual Non-local Attention Networks for Image Restoration, ICLR 2019) as a BasicSR plugin.

Importing it makes BasicSR 1.4.2 importable on today's torchvision (:data:`rnan_basicsr.compat.IMPORT_PATCHES`), fills
BasicSR's registries with RNAN, its datasets and its model, and warns once about two TensorBoard distributions. The
``basicsr`` command's fixes change BasicSR for the whole process, so they apply only in that command or through
:func:`rnan_basicsr.compat.apply` (docs/compatibility.md).
"""
# isort: skip_file
from .compat import apply_import_patches as _apply_import_patches

_apply_import_patches()  # before anything imports basicsr

from . import archs, data, models  # noqa: E402,F401  (fills BasicSR's registries)
from .version import __version__  # noqa: E402,F401
from .utils.environment import warn_about_tensorboard as _warn_about_tensorboard  # noqa: E402

_warn_about_tensorboard()
