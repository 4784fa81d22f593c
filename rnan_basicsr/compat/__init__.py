"""The fixes BasicSR 1.4.2 needs on today's torch / torchvision and on machines without CUDA, applied when asked.

Two groups, so that ``import rnan_basicsr`` in a notebook or beside other BasicSR-based code (Real-ESRGAN, GFPGAN)
changes nothing those programs rely on:

* :data:`IMPORT_PATCHES`, applied by ``import rnan_basicsr``: only what ``import basicsr`` itself needs here. That is
  one alias: torchvision 0.17 renamed ``transforms.functional_tensor`` and BasicSR's ``__init__`` imports the old
  name, so without it no BasicSR module (not even ``basicsr.utils.registry``) can be imported. Nothing else is
  needed to import BasicSR and fill its registries with RNAN: with the alias alone, numpy 2 and torch 2.x import
  all 89 modules of basicsr 1.4.2 as they are (checked with ``pkgutil.walk_packages``); the other fixes below
  concern what BasicSR *does* (training, saving, resuming), not importing it.
* :data:`COMMAND_PATCHES`, applied by the ``basicsr`` command (:mod:`rnan_basicsr.cli`) or by calling
  :func:`apply` in your own code: they change how every BasicSR model in the process saves, loads and trains.

Every patch checks whether its problem is present, applies the narrowest change it can (a module alias, or one
wrapped function) and returns True when it patched; applying twice is a no-op. Nothing of BasicSR is copied:
functions are wrapped or replaced. One module per concern (docs/compatibility.md says what each fix is and why):

========================  ==========================================================================================
:mod:`.imports`           ``import basicsr`` on torchvision >= 0.17 (``functional_tensor`` was renamed)
:mod:`.basicsr_yaml`      option files read with the command's YAML rules (safe loader, ``--force_yml`` values)
:mod:`.checkpoints`       ``weights_only`` loading with errors naming the file, for models other than RNANModel
:mod:`.resume`            training states loaded without CUDA, with ``weights_only``, from the experiment root
:mod:`.distributed`       gloo and DDP without ``device_ids`` when there is no CUDA
:mod:`.tb_logger`         one TensorBoard events file per run, clean curves after a resume
:mod:`.training_loop`     epochs counted from the real batches; the final validation at ``total_iter``
========================  ==========================================================================================

:data:`SUPPORTED_BASICSR` is the version window these fixes were written and tested for. BasicSR's option reading is
replaced by :mod:`rnan_basicsr.compat.basicsr_yaml` (a command patch; the option rules live in
:mod:`rnan_basicsr.options`); the resume policy (which state, which schedule) is
:mod:`rnan_basicsr.models.resume_policy`.
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


def apply_import_patches():
    """Check the BasicSR version and make ``import basicsr`` work here. Returns the names of the patches applied."""
    check_basicsr_version()
    return [patch.__name__ for patch in IMPORT_PATCHES if patch()]


_applied = False  # set by the first apply(): later calls leave BasicSR as it is (wrapped since by others, perhaps)


def apply():
    """Apply every fix that is needed here (the import ones first: every other patch imports basicsr).

    Call it once in your own code to train, save and resume BasicSR models as the ``basicsr`` command does; a second
    call changes nothing, even if other code has wrapped the patched methods since. Returns the names of the
    patches applied by this call.
    """
    global _applied
    if _applied:
        return []
    applied = apply_import_patches() + [patch.__name__ for patch in COMMAND_PATCHES if patch()]
    _applied = True
    return applied
