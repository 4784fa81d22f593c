"""Checkpoints: atomic writes in a safe order, a write that fails stops training, ``weights_only`` loading, errors
that name the file."""
import functools
import os
import sys
import types

from rnan_basicsr.compat._patching import is_patched, mark, source_contains
from rnan_basicsr.utils.errors import RunError

# absolute path -> the exception of the last failed attempt to write it (cleared when a retry succeeds)
_FAILED_WRITES = {}
# keys the model adds to the training state being written (its ``extra_training_state()``), set around the write
_EXTRA_STATE = {}


class _CheckpointTorch(types.ModuleType):
    """Stands for ``torch`` in ``basicsr.models.base_model``: ``save`` is atomic and ``load`` is ``weights_only``;
    a training state being written gets the keys of the model's ``extra_training_state()`` (e.g. RNANModel's fp16
    ``grad_scaler``) beside BasicSR's, see :func:`patch_checkpoint_order`.

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
        key = os.path.abspath(f)
        if _EXTRA_STATE and isinstance(obj, dict) and 'optimizers' in obj:
            obj = {**obj, **_EXTRA_STATE}
        try:
            atomic_torch_save(obj, f)
        except Exception as error:  # BasicSR retries, then only logs "Just ignore it": remember why
            _FAILED_WRITES[key] = error
            raise
        _FAILED_WRITES.pop(key, None)

    @staticmethod
    def load(f, map_location=None, **kwargs):
        from rnan_basicsr.weights import load_checkpoint

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
    if not source_contains(base_model, 'torch.save('):
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


def _raise_if_not_written(path):
    """A RunError naming ``path`` and the OS reason if the last write of ``path`` failed (after BasicSR's retries)."""
    error = _FAILED_WRITES.pop(os.path.abspath(path), None)
    if error is None:
        return
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
    code = f' (errno {error.errno})' if isinstance(error, OSError) and error.errno else ''
    raise RunError(f'cannot write {path!r}: {reason}{code}.', path=path)


def patch_checkpoint_order():
    """Keep every ``<iter>.state`` newer than, and consistent with, the network files of its iteration; stop
    training when a checkpoint cannot be written.

    Models save ``net_<x>_<iter>.pth`` then ``<iter>.state``. Before a network of iteration N is written, the
    ``N.state`` and the old ``net_<x>_N.pth`` a killed or older run may have left are removed, so a state never
    pairs with a network from another run. Resuming after a kill at any point then finds only complete, matching
    pairs. BasicSR retries a failed write three times, then logs "Just ignore it" and trains on, so a full disk
    would lose every later checkpoint silently: here a write that still fails raises a :class:`RunError` naming the
    file and the OS reason (no space, file too large, permission...), and training stops with the previous
    complete checkpoint intact. A model with an ``extra_training_state()`` method gets its keys written into the
    state beside BasicSR's four (BasicSR builds the dict inside ``save_training_state``; nothing is copied).
    """
    from basicsr.models.base_model import BaseModel
    from basicsr.utils import get_root_logger

    save_network, save_training_state = BaseModel.save_network, BaseModel.save_training_state
    if is_patched(save_network) and is_patched(save_training_state):
        return False

    @functools.wraps(save_network)
    def save_network_after_removing_its_state(self, net, net_label, current_iter, *args, **kwargs):
        if current_iter != -1 and _rank() == 0:
            _remove_durably(os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'))
            _remove_durably(os.path.join(self.opt['path']['models'], f'{net_label}_{current_iter}.pth'))
        result = save_network(self, net, net_label, current_iter, *args, **kwargs)
        if _rank() == 0:
            label = 'latest' if current_iter == -1 else current_iter
            _raise_if_not_written(os.path.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))
        return result

    @functools.wraps(save_training_state)
    def save_training_state_after_its_networks(self, epoch, current_iter, *args, **kwargs):
        if current_iter != -1 and _rank() == 0:
            from rnan_basicsr.models.resume_policy import network_files

            missing = [path for path in network_files(self.opt, current_iter).values() if not os.path.isfile(path)]
            if missing:
                get_root_logger().error(f'Not saving the training state of iteration {current_iter}: its network '
                                        f'weights {", ".join(missing)} were not saved; resuming will use the '
                                        'previous complete checkpoint.')
                return None
        extra = getattr(self, 'extra_training_state', None)
        _EXTRA_STATE.update(extra() if extra is not None else {})
        try:
            result = save_training_state(self, epoch, current_iter, *args, **kwargs)
        finally:
            _EXTRA_STATE.clear()
        if current_iter != -1 and _rank() == 0:
            _raise_if_not_written(os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'))
        return result

    BaseModel.save_network = mark(save_network_after_removing_its_state)
    BaseModel.save_training_state = mark(save_training_state_after_its_networks)
    return True


def patch_load_network_errors():
    """Turn ``BaseModel.load_network``'s KeyError / size-mismatch RuntimeError into an InputError naming the file.

    Models that override ``load_network`` (RNANModel) keep their own messages.
    """
    from basicsr.models.base_model import BaseModel

    original = BaseModel.load_network
    if is_patched(original):
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

    BaseModel.load_network = mark(load_network)
    return True
