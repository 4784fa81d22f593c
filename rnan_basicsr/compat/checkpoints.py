"""Network weights loaded by the ``load_network`` other models than RNANModel inherit: ``weights_only``, with errors
that name the file."""
import functools

from rnan_basicsr.compat._patching import replace
from rnan_basicsr.utils.errors import InputError


def patch_load_network_errors():
    """Read ``BaseModel.load_network``'s file with :func:`rnan_basicsr.weights.load_checkpoint` first (BasicSR's
    ``torch.load`` unpickles fully on torch < 2.6), and turn its KeyError / RuntimeError into an InputError."""
    from basicsr.models.base_model import BaseModel

    original = BaseModel.load_network

    @functools.wraps(original)
    def load_network(self, net, load_path, strict=True, param_key='params'):
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

    return replace(BaseModel, 'load_network', load_network)
