"""The rules of RNANModel's own keys: ``val.tile`` / ``self_ensemble`` / ``tb_images``, the speed and precision
switches of ``train`` and ``val``, ``train.grad_clip`` / ``max_nonfinite_steps`` and ``train.optim_*``.

Run by the ``basicsr`` command's pre-flight (before BasicSR creates any folder); the model itself checks nothing.
Each function raises an :class:`~rnan_basicsr.utils.errors.InputError` naming the key, the value and the fix.
"""
import inspect
import torch

from rnan_basicsr import precision
from rnan_basicsr.models.rnan_model import DEFAULT_MAX_NONFINITE_STEPS, RNANModel
from rnan_basicsr.test_time import check_tile
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import check_known_keys, did_you_mean, is_int, is_number

#: torch.compile keyword arguments accepted in ``train.compile`` / ``val.compile`` given as a mapping
COMPILE_KEYS = ('backend', 'mode', 'dynamic', 'fullgraph')


def check_model_options(opt):
    """All of RNANModel's rules on ``opt`` (the whole option dict). The device is the one BasicSR will use: CPU for
    ``num_gpu: 0``, otherwise CUDA. BasicSR's own keys are not checked here, nor what the schema declares alone
    (``val.self_ensemble``, ``val.tb_images``, ``channels_last`` and ``tf32`` are true/false or an int >= 0 there,
    with the same words and the key's ``file:line:column``)."""
    check_speed_options(opt)
    val = opt.get('val')
    if val is None:
        return
    if not isinstance(val, dict):
        raise InputError(f'val must be a mapping (val_freq, save_img, metrics, tile, ...), got {val!r}.')
    check_tile(val.get('tile'), 'val.tile')


def device_of(opt):
    """The device BasicSR's BaseModel will use for these options (before or after num_gpu: auto is resolved)."""
    num_gpu = opt.get('num_gpu', 0)
    if num_gpu == 'auto':
        num_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return torch.device('cuda' if num_gpu else 'cpu')


def check_speed_options(opt):
    """``mixed_precision`` (on this device) and ``compile`` of train and val, ``train.grad_clip``,
    ``train.max_nonfinite_steps``, ``train.optim_*.type`` and its arguments."""
    device = device_of(opt)
    sections = [('val', opt.get('val'))]
    if opt.get('is_train', True):
        sections.insert(0, ('train', opt.get('train')))
    for section, values in sections:
        if not isinstance(values, dict):
            continue
        precision.check_precision(device, values.get('mixed_precision'), f'{section}.mixed_precision')
        check_compile(values.get('compile', False), f'{section}.compile')
    train = opt.get('train') if opt.get('is_train', True) else None
    if not isinstance(train, dict):
        return
    clip = train.get('grad_clip')
    if clip is not None and (not is_number(clip) or not clip > 0):
        raise InputError(f'train.grad_clip must be a positive number (the largest global L2 norm of the '
                         f'gradients) or ~ for no clipping, got {clip!r}; e.g. grad_clip: 1.0')
    limit = train.get('max_nonfinite_steps', DEFAULT_MAX_NONFINITE_STEPS)
    if not is_int(limit) or limit < 1:
        raise InputError(f'train.max_nonfinite_steps must be an integer >= 1 (steps with non-finite gradients '
                         f'in a row that stop the run), got {limit!r}; default {DEFAULT_MAX_NONFINITE_STEPS}.')
    for key, value in train.items():
        if key.startswith('optim_') and isinstance(value, dict):
            optimizer = RNANModel.optimizer_class(value.get('type'), f'train.{key}.type')
            check_optimizer_arguments(optimizer, value, f'train.{key}')


def check_compile(value, what):
    """``train.compile`` / ``val.compile``: true, false or a mapping of torch.compile arguments."""
    if isinstance(value, bool):
        return
    if not isinstance(value, dict):
        raise InputError(f'{what} must be true, false or a mapping of torch.compile arguments '
                         f'({", ".join(COMPILE_KEYS)}), got {value!r}.')
    check_known_keys(value, COMPILE_KEYS, what, 'Allowed (torch.compile arguments)')


def check_optimizer_arguments(optimizer, values, what):
    """Unknown keyword arguments of the optimizer (``lr``, ``betas``...) as an InputError, with a suggestion."""
    try:
        parameters = inspect.signature(optimizer.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    allowed = [name for name in parameters if name not in ('self', 'params')]
    for key in values:
        if key != 'type' and key not in allowed:
            raise InputError(f'{what}.{key} is not an argument of {optimizer.__name__}.'
                             f'{did_you_mean(key, allowed)} Its arguments: {", ".join(allowed)}.')
