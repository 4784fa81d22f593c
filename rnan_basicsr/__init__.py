"""RNAN (Residual Non-local Attention Networks for Image Restoration, ICLR 2019) as a BasicSR plugin.

Importing this package first makes BasicSR 1.4.2 importable on today's torchvision (one module alias and nothing
else: :data:`rnan_basicsr.compat.IMPORT_PATCHES`), then imports every ``*_arch.py``, ``*_dataset.py`` and
``*_model.py`` in it so that BasicSR's registries know RNAN, its datasets and its model. The fixes of the ``basicsr``
command (checkpoint writing, option reading, resume, distributed training without CUDA...) change BasicSR for the
whole process, so they apply only when that command runs or when you call :func:`rnan_basicsr.compat.apply`
(docs/compatibility.md). An environment with two TensorBoard distributions (BasicSR's ``tb-nightly`` beside
``tensorboard``) gets one warning line with the command that fixes it.
"""
# isort: skip_file
from .compat import apply_import_patches as _apply_import_patches

_apply_import_patches()  # before anything imports basicsr

from . import archs, data, models  # noqa: E402,F401  (fills BasicSR's registries)
from .version import __version__  # noqa: E402,F401
from .utils.environment import warn_about_tensorboard as _warn_about_tensorboard  # noqa: E402

_warn_about_tensorboard()
