"""The fixes BasicSR 1.4.2 needs on today's torch / torchvision and without CUDA, one module per concern
(docs/compatibility.md says what each fixes and where in BasicSR).

:data:`IMPORT_PATCHES` are applied by ``import rnan_basicsr``: only what ``import basicsr`` needs, so other
BasicSR-based code in the process keeps BasicSR as it is. :data:`COMMAND_PATCHES` are applied by the ``basicsr``
command or :func:`apply`. Each patch replaces or wraps one name of BasicSR when its problem is present (nothing is
copied), returns True when it patched, and does nothing the second time.
"""
import importlib.metadata
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from rnan_basicsr.compat import basicsr_yaml, checkpoints, distributed, imports, resume, tb_logger, training_loop
from rnan_basicsr.version import BASICSR_SPECIFIER

#: BasicSR releases the patches are written for (the range setup.py also declares, from rnan_basicsr/version.py)
SUPPORTED_BASICSR = SpecifierSet(BASICSR_SPECIFIER)

#: what ``import basicsr`` needs on today's torchvision; applied by ``import rnan_basicsr``, before basicsr
IMPORT_PATCHES = (imports.alias_functional_tensor, )

#: the ``basicsr`` command's fixes, one per line; applied by the command or by :func:`apply`, in this order
COMMAND_PATCHES = (
    basicsr_yaml.patch_safe_yaml,
    basicsr_yaml.patch_force_yml_values,
    resume.patch_load_resume_state,
    distributed.patch_dist_init_without_cuda,
    distributed.patch_ddp_without_cuda,
    checkpoints.patch_load_network_errors,
    tb_logger.patch_tensorboard_loggers,
    training_loop.patch_iterations_per_epoch,
    training_loop.patch_final_validation_iteration,
    training_loop.patch_paired_read_errors,
)


def check_basicsr_version():
    """Refuse a BasicSR outside :data:`SUPPORTED_BASICSR` with an install hint; the installed version, or None for
    one without package metadata (a source checkout on PYTHONPATH), taken as is."""
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


def apply_import_patches():
    """Check the BasicSR version and make ``import basicsr`` work here. Returns the names of the patches applied."""
    check_basicsr_version()
    return [patch.__name__ for patch in IMPORT_PATCHES if patch()]


_applied = False  # set by the first apply(): later calls leave BasicSR as it is (wrapped since by others, perhaps)


def apply():
    """Apply every fix needed here (the import ones first: the others import basicsr), as the ``basicsr`` command
    does; the names of those applied. A second call changes nothing, even if other code has wrapped them since."""
    global _applied
    if _applied:
        return []
    applied = apply_import_patches() + [patch.__name__ for patch in COMMAND_PATCHES if patch()]
    _applied = True
    return applied
