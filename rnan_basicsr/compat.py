"""Compatibility patches that let BasicSR 1.4.2 run on today's torch / torchvision and on machines without CUDA.

Each function below fixes one measured problem (see ``../shared/docs/STACK.md`` in the project notes). Each checks
whether its problem is present, applies the narrowest patch it can (a module alias, or one wrapped function), and
returns True when it patched. Nothing of BasicSR is copied: functions are wrapped or replaced by our own code.

:func:`apply` runs them all. It must run before the first ``import basicsr`` because importing BasicSR fails on
torchvision >= 0.17; ``import rnan_basicsr`` calls it first thing. Every function is idempotent.
"""
import contextlib
import functools
import importlib
import importlib.metadata
import inspect
import math
import os
import sys
import types

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


class _CheckpointTorch(types.ModuleType):
    """Stands for ``torch`` in ``basicsr.models.base_model``: ``save`` is atomic and ``load`` is ``weights_only``.

    Every other attribute is torch's own. The module's only ``torch.save`` calls are in ``save_network`` and
    ``save_training_state`` and its only ``torch.load`` is in ``load_network``, so this reaches exactly the three
    methods every BasicSR model inherits, without copying them.
    """

    def __init__(self, torch_module):
        super().__init__(torch_module.__name__, torch_module.__doc__)
        self.__dict__['_torch'] = torch_module

    def __getattr__(self, name):
        return getattr(self.__dict__['_torch'], name)

    @staticmethod
    def save(obj, f, *args, **kwargs):
        from rnan_basicsr.utils.atomic import atomic_torch_save

        if args or kwargs or not isinstance(f, (str, os.PathLike)):
            return sys.modules['torch'].save(obj, f, *args, **kwargs)
        return atomic_torch_save(obj, f)

    @staticmethod
    def load(f, map_location=None, **kwargs):
        from rnan_basicsr.utils.checkpoint import load_checkpoint

        return load_checkpoint(f, what='network weights', map_location=map_location)


def patch_checkpoint_io():
    """Write checkpoints and training states atomically, load network weights with ``weights_only=True``.

    ``BaseModel.save_network`` / ``save_training_state`` call ``torch.save(obj, final_path)``: a run killed while
    writing leaves a truncated file under the final name, which ``--auto_resume`` then picks. ``load_network`` calls
    ``torch.load`` with full unpickling (any code in a downloaded ``.pth`` runs). The ``torch`` name of
    ``basicsr.models.base_model`` is replaced by :class:`_CheckpointTorch`; see :func:`patch_checkpoint_order` for
    the order of the writes.
    """
    import basicsr.models.base_model as base_model

    if isinstance(base_model.torch, _CheckpointTorch):
        return False
    if not _source_contains(base_model, 'torch.save('):
        return False
    base_model.torch = _CheckpointTorch(base_model.torch)
    return True


def _rank():
    from basicsr.utils.dist_util import get_dist_info
    return get_dist_info()[0]


def _remove_durably(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    from rnan_basicsr.utils.atomic import fsync_folder
    fsync_folder(os.path.dirname(path))


def patch_checkpoint_order():
    """Keep every ``<iter>.state`` newer than, and consistent with, the network files of its iteration.

    Models save ``net_<x>_<iter>.pth`` then ``<iter>.state``. Before a network of iteration N is written, the
    ``N.state`` and the old ``net_<x>_N.pth`` a killed or older run may have left are removed, so a state never
    pairs with a network from another run; a state is not written when a network file of its iteration is missing
    (BasicSR ignores failed network saves after three tries). Resuming after a kill at any point then finds only
    complete, matching pairs.
    """
    from basicsr.models.base_model import BaseModel
    from basicsr.utils import get_root_logger

    save_network, save_training_state = BaseModel.save_network, BaseModel.save_training_state
    if _is_patched(save_network) and _is_patched(save_training_state):
        return False

    @functools.wraps(save_network)
    def save_network_after_removing_its_state(self, net, net_label, current_iter, *args, **kwargs):
        if current_iter != -1 and _rank() == 0:
            _remove_durably(os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'))
            _remove_durably(os.path.join(self.opt['path']['models'], f'{net_label}_{current_iter}.pth'))
        return save_network(self, net, net_label, current_iter, *args, **kwargs)

    @functools.wraps(save_training_state)
    def save_training_state_after_its_networks(self, epoch, current_iter, *args, **kwargs):
        if current_iter != -1 and _rank() == 0:
            from rnan_basicsr.utils.resume import network_files

            missing = [path for path in network_files(self.opt, current_iter).values() if not os.path.isfile(path)]
            if missing:
                get_root_logger().error(f'Not saving the training state of iteration {current_iter}: its network '
                                        f'weights {", ".join(missing)} were not saved; resuming will use the '
                                        'previous complete checkpoint.')
                return None
        return save_training_state(self, epoch, current_iter, *args, **kwargs)

    BaseModel.save_network = _mark(save_network_after_removing_its_state)
    BaseModel.save_training_state = _mark(save_training_state_after_its_networks)
    return True


def patch_load_network_errors():
    """Turn ``BaseModel.load_network``'s KeyError / size-mismatch RuntimeError into an InputError naming the file.

    Models that override ``load_network`` (RNANModel) keep their own messages.
    """
    from basicsr.models.base_model import BaseModel

    original = BaseModel.load_network
    if _is_patched(original):
        return False

    @functools.wraps(original)
    def load_network(self, net, load_path, strict=True, param_key='params'):
        from rnan_basicsr.utils.errors import InputError

        try:
            return original(self, net, load_path, strict, param_key)
        except KeyError as error:
            raise InputError(f'network weights {load_path!r} have no {error} entry (BasicSR saves {{"params": ...}}, '
                             '"params_ema" too with EMA). Set path.param_key_g to the key the file uses, or convert '
                             'the file.') from None
        except RuntimeError as error:  # load_state_dict: missing / unexpected keys, size mismatch
            details = '; '.join(line.strip() for line in str(error).splitlines()[1:4] if line.strip())
            raise InputError(f'network weights {load_path!r} do not fit {type(self.get_bare_model(net)).__name__} '
                             f'as configured: {details or error}. Use weights of this architecture and size (check '
                             'network_g and scale), or strict_load_g: false to load only the tensors that fit.'
                             ) from None

    BaseModel.load_network = _mark(load_network)
    return True


def patch_resume_training_check():
    """Check that a training state belongs to the model's parameters before ``resume_training`` loads it.

    BasicSR asserts only the number of optimizers; torch checks only group sizes, so Adam moments saved for another
    network of the same depth load and fail later. See :func:`rnan_basicsr.utils.resume.check_optimizers_fit`.
    """
    from basicsr.models.base_model import BaseModel

    original = BaseModel.resume_training
    if _is_patched(original):
        return False

    @functools.wraps(original)
    def resume_training(self, resume_state):
        from rnan_basicsr.utils.resume import check_optimizers_fit

        check_optimizers_fit(self.optimizers, self.schedulers, resume_state, self.opt['path'].get('resume_state'))
        return original(self, resume_state)

    BaseModel.resume_training = _mark(resume_training)
    return True


def patch_tensorboard_loggers():
    """TensorBoard events from rank 0 only; a resumed run hides what the killed run logged after its state.

    ``basicsr.train.init_tb_loggers`` opens a ``SummaryWriter`` in every process of a distributed run (one events
    file per rank in one folder); its callers use the writer only on rank 0. On resume from iteration T the events
    a killed run logged after T would be drawn twice; the ``SessionLog.START`` event at step T + 1 that
    ``SummaryWriter(purge_step=T + 1)`` writes makes TensorBoard drop them.
    """
    import basicsr.train as basicsr_train

    original = basicsr_train.init_tb_loggers
    if _is_patched(original):
        return False

    @functools.wraps(original)
    def init_tb_loggers(opt):
        if opt.get('rank', 0) != 0:
            return None
        tb_logger = original(opt)
        from rnan_basicsr.utils.resume import resume_iteration

        if tb_logger is None:
            return None
        resumed = resume_iteration(opt)
        if resumed is not None:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            tb_logger._get_file_writer().add_event(
                Event(step=resumed + 1, session_log=SessionLog(status=SessionLog.START)))
        return tb_logger

    basicsr_train.init_tb_loggers = _mark(init_tb_loggers)
    return True


def patch_iterations_per_epoch():
    """Count the epochs from the batches the training loader really yields.

    ``create_train_val_dataloader`` divides the dataset size by ``batch_size_per_gpu * world_size`` and rounds up,
    but the loader drops the last incomplete batch (and multiplies the batch by ``num_gpu`` without DDP): a small
    dataset then gets too few epochs and training stops before ``total_iter``. An empty loader (fewer images than
    one batch) trains nothing; that is an InputError.
    """
    import basicsr.train as basicsr_train

    original = basicsr_train.create_train_val_dataloader
    if _is_patched(original):
        return False

    @functools.wraps(original)
    def create_train_val_dataloader(opt, logger):
        train_loader, train_sampler, val_loaders, total_epochs, total_iters = original(opt, logger)
        if train_loader is not None:
            from rnan_basicsr.utils.errors import InputError

            batches = len(train_loader)
            if batches == 0:
                dataset_opt = opt['datasets']['train']
                raise InputError(f'datasets.train ({dataset_opt.get("name")}) has {len(train_loader.dataset)} '
                                 f'item(s) (x dataset_enlarge_ratio {dataset_opt.get("dataset_enlarge_ratio", 1)}) '
                                 f'for {opt["world_size"]} process(es): not one full batch of '
                                 f'{train_loader.batch_size}. Add images, raise dataset_enlarge_ratio or lower '
                                 'batch_size_per_gpu.')
            epochs = math.ceil(total_iters / batches)
            if epochs != total_epochs:
                logger.info(f'Iterations per epoch: {batches} (incomplete batches are dropped); total epochs: '
                            f'{epochs}.')
            total_epochs = epochs
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters

    basicsr_train.create_train_val_dataloader = _mark(create_train_val_dataloader)
    return True


def apply():
    """Apply every patch that is needed here. Returns the names of the patches applied by this call."""
    check_basicsr_version()
    applied = []
    # The alias must come first: every other patch imports basicsr.
    for patch in (alias_functional_tensor, patch_load_resume_state, patch_dist_init_without_cuda,
                  patch_ddp_without_cuda, patch_checkpoint_io, patch_checkpoint_order, patch_load_network_errors,
                  patch_resume_training_check, patch_tensorboard_loggers, patch_iterations_per_epoch):
        if patch():
            applied.append(patch.__name__)
    return applied
