"""Network weights loaded by any BasicSR model: ``weights_only``, with errors that name the file.

RNANModel saves and loads its checkpoints itself (atomic writes in a safe order, the network settings beside the
weights: :mod:`rnan_basicsr.models.rnan_model`); this covers the ``load_network`` other models inherit.
"""
import functools

from rnan_basicsr.compat._patching import is_patched, mark


def patch_load_network_errors():
    """Load ``BaseModel.load_network``'s file with ``weights_only=True`` first, and turn its KeyError /
    size-mismatch RuntimeError into an InputError naming the file.

    BasicSR's ``torch.load`` unpickles fully on torch < 2.6 (any code in a downloaded ``.pth`` runs) and fails with
    bare ``KeyError``s. The file is read first by :func:`rnan_basicsr.weights.load_checkpoint`, which refuses code,
    training states and foreign files in one line. Models that override ``load_network`` (RNANModel) keep their own.
    """
    from basicsr.models.base_model import BaseModel

    original = BaseModel.load_network
    if is_patched(original):
        return False

    @functools.wraps(original)
    def load_network(self, net, load_path, strict=True, param_key='params'):
        from rnan_basicsr.utils.errors import InputError
        from rnan_basicsr.weights import load_checkpoint

        load_checkpoint(load_path, what='network weights')
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
