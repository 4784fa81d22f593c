"""RNAN (Residual Non-local Attention Networks for Image Restoration, ICLR 2019) as a BasicSR plugin.

Importing this package first applies the compatibility patches BasicSR 1.4.2 needs on today's torch and torchvision
(:mod:`rnan_basicsr.compat`), then imports every ``*_arch.py``, ``*_dataset.py`` and ``*_model.py`` in it so that
BasicSR's registries know RNAN, its datasets and its model. An environment with two TensorBoard distributions
(BasicSR's ``tb-nightly`` beside ``tensorboard``) gets one warning line with the command that fixes it.
"""
# isort: skip_file
from .compat import apply as _apply_compat

_apply_compat()  # before anything imports basicsr

from . import archs, data, models  # noqa: E402,F401  (fills BasicSR's registries)
from .version import __version__  # noqa: E402,F401
from .utils.environment import warn_about_tensorboard as _warn_about_tensorboard  # noqa: E402

_warn_about_tensorboard()
