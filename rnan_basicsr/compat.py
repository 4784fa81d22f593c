"""Compatibility patches that let BasicSR 1.4.2 run on today's torch / torchvision and on machines without CUDA.

Each function below fixes one measured problem (see ``../shared/docs/STACK.md`` in the project notes). Each checks
whether its problem is present, applies the narrowest patch it can (a module alias, or one wrapped function), and
returns True when it patched. Nothing of BasicSR is copied: functions are wrapped or replaced by our own code.

:func:`apply` runs them all. It must run before the first ``import basicsr`` because importing BasicSR fails on
torchvision >= 0.17; ``import rnan_basicsr`` calls it first thing. Every function is idempotent.
"""
import contextlib
import importlib
import importlib.metadata
import inspect
import sys

MIN_BASICSR_VERSION = (1, 4, 2)

# Marks a callable installed by this module, so that a second apply() sees the patch and does nothing.
_PATCH_MARK = '_rnan_basicsr_patch'


def _mark(func):
    setattr(func, _PATCH_MARK, True)
    return func


def _is_patched(func):
    return getattr(func, _PATCH_MARK, False)


def _source_contains(func, *snippets):
    """True if the source of ``func`` contains any of ``snippets`` (a probe for a known defect)."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):  # no source on disk: assume the defect, our replacement is correct either way
        return True
    return any(snippet in source for snippet in snippets)


def check_basicsr_version():
    """Refuse a BasicSR older than 1.4.2 with an install hint (older releases lack the APIs we use).

    Returns the installed version string, or None when BasicSR is importable without package metadata
    (e.g. a source checkout on PYTHONPATH).
    """
    try:
        version = importlib.metadata.version('basicsr')
    except importlib.metadata.PackageNotFoundError:
        return None
    numbers = []
    for part in version.split('+')[0].split('.')[:3]:
        digits = ''.join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits) if digits else 0)
    if tuple(numbers) < MIN_BASICSR_VERSION:
        raise ImportError(f'rnan_basicsr needs basicsr >= {".".join(map(str, MIN_BASICSR_VERSION))}, found {version}. '
                          'Install torch first, then: pip install --no-build-isolation "basicsr>=1.4.2"')
    return version


def alias_functional_tensor():
    """Make ``torchvision.transforms.functional_tensor`` importable again.

    torchvision 0.17 renamed it to ``_functional_tensor``; ``basicsr/data/degradations.py`` still imports the old
    name, so ``import basicsr`` (even ``basicsr.utils.registry``) fails with ModuleNotFoundError. The alias registers
    the renamed module under the old name in ``sys.modules``.
    """
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return False
    try:
        importlib.import_module(name)
        return False
    except ModuleNotFoundError:
        pass
    sys.modules[name] = importlib.import_module('torchvision.transforms._functional_tensor')
    return True


def patch_load_resume_state():
    """Replace ``basicsr.train.load_resume_state`` by :func:`rnan_basicsr.utils.resume.load_resume_state`.

    BasicSR's version maps the state onto ``torch.cuda.current_device()`` (fails without CUDA), loads it with full
    pickle, and ``--auto_resume`` looks for ``experiments/<name>/training_states`` relative to the current directory
    instead of the experiment root. Ours loads on the CPU with ``weights_only=True`` from
    ``opt['path']['training_states']`` and explains bad resume files.
    """
    import basicsr.train as basicsr_train

    original = basicsr_train.load_resume_state
    if _is_patched(original) or not _source_contains(original, 'torch.cuda.current_device', "osp.join('experiments'"):
        return False
    from rnan_basicsr.utils.resume import load_resume_state

    basicsr_train.load_resume_state = _mark(load_resume_state)
    return True


@contextlib.contextmanager
def _cpu_device_shims():
    """Let code that computes ``rank % torch.cuda.device_count()`` and calls ``set_device`` run without CUDA."""
    import torch

    device_count, set_device = torch.cuda.device_count, torch.cuda.set_device
    torch.cuda.device_count = lambda: 1
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.device_count, torch.cuda.set_device = device_count, set_device


def patch_dist_init_without_cuda():
    """On a machine without CUDA, initialise torch.distributed with gloo instead of NCCL.

    ``basicsr.utils.dist_util`` hard-codes the NCCL backend and ``rank % torch.cuda.device_count()``
    (ZeroDivisionError without GPUs) in both launchers. The wrapped launchers run BasicSR's own code with the gloo
    backend and a CPU stand-in for the device count. With CUDA present nothing is patched.
    """
    import torch
    if torch.cuda.is_available():
        return False
    import basicsr.utils.dist_util as dist_util

    patched = False
    for name in ('_init_dist_pytorch', '_init_dist_slurm'):
        original = getattr(dist_util, name)
        if _is_patched(original):
            continue

        def init_with_gloo(backend='gloo', *args, _original=original, **kwargs):
            with _cpu_device_shims():
                return _original('gloo', *args, **kwargs)

        setattr(dist_util, name, _mark(init_with_gloo))
        patched = True
    return patched


def patch_ddp_without_cuda():
    """Wrap networks in DistributedDataParallel without ``device_ids`` when training on the CPU.

    ``BaseModel.model_to_device`` passes ``device_ids=[torch.cuda.current_device()]``, which fails without CUDA.
    For CPU models in distributed mode the wrapper builds DDP itself; every other case goes to BasicSR's method.
    """
    import torch
    if torch.cuda.is_available():
        return False
    from basicsr.models.base_model import BaseModel
    from torch.nn.parallel import DistributedDataParallel

    original = BaseModel.model_to_device
    if _is_patched(original):
        return False

    def model_to_device(self, net):
        if self.opt['dist'] and self.device.type == 'cpu':
            find_unused_parameters = self.opt.get('find_unused_parameters', False)
            return DistributedDataParallel(net.to(self.device), find_unused_parameters=find_unused_parameters)
        return original(self, net)

    BaseModel.model_to_device = _mark(model_to_device)
    return True


def apply():
    """Apply every patch that is needed here. Returns the names of the patches applied by this call."""
    check_basicsr_version()
    applied = []
    # The alias must come first: every other patch imports basicsr.
    for patch in (alias_functional_tensor, patch_load_resume_state, patch_dist_init_without_cuda,
                  patch_ddp_without_cuda):
        if patch():
            applied.append(patch.__name__)
    return applied
