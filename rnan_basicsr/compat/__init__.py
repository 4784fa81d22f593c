"""The fixes BasicSR 1.4.2 needs on today's torch / torchvision and on machines without CUDA, in one place.

Importing :mod:`rnan_basicsr` calls :func:`apply` before anything imports BasicSR, so BasicSR's own scripts, the
``basicsr`` command and ``import rnan_basicsr`` in a notebook all run the fixed BasicSR. Every patch checks whether
its problem is present, applies the narrowest change it can (a module alias, or one wrapped function) and returns
True when it patched; applying twice is a no-op. Nothing of BasicSR is copied: functions are wrapped or replaced.

One module per concern:

========================  ==========================================================================================
:mod:`.imports`           ``import basicsr`` on torchvision >= 0.17 (``functional_tensor`` was renamed)
:mod:`.checkpoints`       atomic checkpoint writes in a safe order; a write that fails stops training; safe loading
:mod:`.resume`            training states loaded without CUDA, with ``weights_only``, from the experiment root
:mod:`.distributed`       gloo and DDP without ``device_ids`` when there is no CUDA
:mod:`.tb_logger`         one TensorBoard events file per run, clean curves after a resume
:mod:`.training_loop`     epochs counted from the real batches; the final validation at ``total_iter``
========================  ==========================================================================================

:data:`SUPPORTED_BASICSR` is the version window these fixes were written and tested for. BasicSR's option reading is
replaced by :mod:`rnan_basicsr.options.basicsr_yaml` (the option rules live in :mod:`rnan_basicsr.options`).
"""
import importlib.metadata
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from rnan_basicsr.compat import checkpoints, distributed, imports, resume, tb_logger, training_loop
from rnan_basicsr.options import basicsr_yaml
from rnan_basicsr.version import BASICSR_SPECIFIER

#: BasicSR releases the patches are written for (the range setup.py also declares, from rnan_basicsr/version.py)
SUPPORTED_BASICSR = SpecifierSet(BASICSR_SPECIFIER)

# The alias must come first: every other patch imports basicsr.
PATCHES = (imports.alias_functional_tensor, basicsr_yaml.patch_safe_yaml, basicsr_yaml.patch_force_yml_values,
           resume.patch_load_resume_state, distributed.patch_dist_init_without_cuda,
           distributed.patch_ddp_without_cuda, checkpoints.patch_checkpoint_io, checkpoints.patch_checkpoint_order,
           checkpoints.patch_load_network_errors, resume.patch_resume_training_check,
           tb_logger.patch_tensorboard_loggers, training_loop.patch_iterations_per_epoch,
           training_loop.patch_final_validation_iteration)


def check_basicsr_version():
    """Refuse a BasicSR outside :data:`SUPPORTED_BASICSR` with an install hint.

    Returns the installed version string, or None when BasicSR is importable without package metadata (e.g. a
    source checkout on PYTHONPATH), which is then taken as is.
    """
    try:
        installed = importlib.metadata.version('basicsr')
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        supported = Version(installed) in SUPPORTED_BASICSR
    except InvalidVersion:
        supported = False
    if not supported:
        raise ImportError(f'rnan_basicsr supports basicsr {SUPPORTED_BASICSR}, found {installed}. Install torch '
                          'first, then: pip install --no-build-isolation "basicsr==1.4.2"')
    return installed


def apply():
    """Apply every patch that is needed here. Returns the names of the patches applied by this call."""
    check_basicsr_version()
    return [patch.__name__ for patch in PATCHES if patch()]
