"""Reading any checkpoint form safely (``weights_only=True``), selecting its state dict, the RNAN its keys describe.

Forms: BasicSR's ``{'params', 'params_ema'}`` and bare state dicts; the authors' (plain, under ``state_dict`` /
``model``, DataParallel's ``module.``), renamed by :mod:`rnan_basicsr.weights.authors`; ``.safetensors``, read as
``{'params': tensors}`` plus the ``network_g`` settings of its metadata. A wrong file is an :class:`InputError` saying
what it is and what to use.
"""
import json
import re
import torch
from collections import OrderedDict
from os import path as osp
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from rnan_basicsr.utils.atomic import atomic_write
from rnan_basicsr.utils.errors import InputError

PARAM_KEYS = ('params', 'params_ema')
#: where checkpoints keep their state dict, in the order :func:`find_params` tries them (EMA weights first)
WRAPPER_KEYS = ('params_ema', 'params', 'state_dict', 'model')
TRAINING_STATE_KEYS = ('iter', 'optimizers')
#: the key under which :func:`load_checkpoint` returns the ``network_g`` settings of a ``.safetensors`` file
NETWORK_KEY = 'network_g'
# The RNAN arguments that can be read off the weights (the mean, softmax mode and img_range cannot).
CONFIG_KEYS = ('num_in_ch', 'num_out_ch', 'num_feat', 'num_group', 'upscale')
#: the keys every RNAN state dict of this package's layout has
RNAN_KEYS = ('conv_first.weight', 'conv_last.weight', 'group_nl_low.conv.weight', 'group_nl_high.conv.weight')
CONVERT_HINT = 'convert it first: python scripts/convert_official_rnan.py --input FILE --output FILE.pth'


def named(what, path):
    return f'{what} {path!r}' if path else what


def first_keys(keys, limit):
    """``a, b, ... (12 in all)``: the first ``limit`` of ``keys``, for messages."""
    return ', '.join(keys[:limit]) + (f', ... ({len(keys)} in all)' if len(keys) > limit else '')


def _refuse_training_state(checkpoint, what, path):
    if isinstance(checkpoint, dict) and all(key in checkpoint for key in TRAINING_STATE_KEYS):
        raise InputError(f'{named(what, path)} is a BasicSR training state (iteration {checkpoint.get("iter")}), not '
                         'network weights. Use the weights saved beside it, '
                         f'experiments/<name>/models/net_g_{checkpoint.get("iter")}.pth; to continue training from '
                         'the state, set path.resume_state instead.')


def refuse_authors_layout(state_dict, what, path=None):
    """Raise an InputError when ``state_dict`` is in the authors' layout, which is converted, never loaded."""
    if 'head.0.weight' in state_dict:
        raise InputError(f'{named(what, path)} is an authors\' RNAN checkpoint (yulunzhang/RNAN layout); '
                         f'{CONVERT_HINT}')


def _load_safetensors(path, what, device):
    from safetensors import safe_open

    try:
        with safe_open(path, framework='pt', device=device) as f:
            metadata = f.metadata() or {}
            checkpoint = {'params': OrderedDict((key, f.get_tensor(key)) for key in f.keys())}
        if NETWORK_KEY in metadata:
            checkpoint[NETWORK_KEY] = json.loads(metadata[NETWORK_KEY])
    except Exception as error:  # safetensors and json raise their own types for truncated or foreign files
        first_line = str(error).splitlines()[0] if str(error) else ''
        raise InputError(f'cannot load {what} {path!r} as a .safetensors file ({type(error).__name__}: {first_line}).'
                         ' It is truncated or not a file safetensors wrote.') from None
    return checkpoint


def describe_unloadable(path, error):
    """What a file is that ``torch.load(path, weights_only=True)`` refused with ``error``, as words that complete "it
    ...". Never torch's own advice: it suggests ``weights_only=False``, which runs whatever code the file holds."""
    with open(path, 'rb') as f:
        head = f.read(64)
    if not head:
        return 'is empty'
    if head.startswith(b'\x93NUMPY'):
        return 'is a NumPy array (.npy), not a checkpoint'
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in '\t\r\n' for c in text):
        return f'is a text file, not a checkpoint (it starts with {text.splitlines()[0][:40]!r})'
    needed = re.search(r'GLOBAL ([\w.]+)', str(error))
    if needed:
        return (f'holds code: loading it would import and call {needed.group(1)}, which network weights never need, '
                'so it was not loaded (weights_only=True runs no code from a file). If you made it, save only the '
                "weights: torch.save({'params': net.state_dict()}, path)")
    first_line = next((line for line in str(error).splitlines() if line.strip()), '')[:200]
    if head.startswith(b'PK\x03\x04'):
        if 'central directory' in first_line or 'failed reading' in first_line:
            return 'is truncated (an incomplete torch.save archive)'
        return f'is a zip archive that torch.save did not write ({type(error).__name__}: {first_line})'
    return f'is not a checkpoint torch.save wrote ({type(error).__name__}: {first_line or "unreadable"})'


def load_checkpoint(path, what='checkpoint', map_location='cpu'):
    """Load ``path`` as a dict: ``torch.load(..., weights_only=True)``, or a ``.safetensors`` file.

    ``what`` names the file in messages (``'--model_path'``...); ``map_location`` as for ``torch.load``
    (``.safetensors`` files are read onto the device it names, else the CPU). Raises an InputError for a missing or
    unloadable file (:func:`describe_unloadable`), a BasicSR training state, or anything but a dict.
    """
    if not osp.isfile(path):
        raise InputError(f'{what} {path!r} does not exist or is not a file.')
    if str(path).endswith('.safetensors'):
        device = str(map_location) if isinstance(map_location, (str, torch.device)) else 'cpu'
        return _load_safetensors(path, what, device)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for truncated, foreign or unsafe files
        raise InputError(f'cannot load {what} {path!r}: it {describe_unloadable(path, error)}. Use network weights '
                         'such as experiments/<name>/models/net_g_<iter>.pth.') from None
    _refuse_training_state(checkpoint, what, path)
    if not isinstance(checkpoint, dict):
        raise InputError(f'{what} {path!r} holds a {type(checkpoint).__name__}, not a dict of network weights.')
    return checkpoint


def save_safetensors(state_dict, path, network_opt):
    """Write ``state_dict`` to ``path`` atomically as ``.safetensors``, with ``network_opt`` (``network_g``) in its
    metadata; :func:`load_checkpoint` reads it back as ``{'params': state_dict, 'network_g': network_opt}``."""
    from safetensors.torch import save

    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in state_dict.items()}
    data = save(tensors, metadata={NETWORK_KEY: json.dumps(dict(network_opt))})
    with atomic_write(path) as f:
        f.write(data)


def is_state_dict(obj):
    """True for a non-empty dict whose values are all tensors."""
    return isinstance(obj, dict) and bool(obj) and all(torch.is_tensor(v) for v in obj.values())


def looks_like_weights(obj):
    """True for network weights: a state dict, or a dict with one of :data:`WRAPPER_KEYS` but ``model``."""
    return is_state_dict(obj) or (isinstance(obj, dict) and bool(obj.keys() & set(WRAPPER_KEYS[:3])))


def describe_keys(checkpoint):
    """``"keys params, params_ema"``-style summary of a checkpoint's top-level keys, for messages."""
    keys = [str(k) for k in checkpoint]
    if is_state_dict(checkpoint):
        return f'a bare state dict ({len(keys)} tensors, first {keys[0]!r})'
    return f'keys {first_keys(keys, 8)}' if keys else 'no keys'


def select_params(checkpoint, param_key='params', path=None, what='checkpoint'):
    """``(state_dict, key used)``: a new dict of what ``param_key`` holds (``None``: the checkpoint itself), without
    ``module.`` prefixes; ``params_ema`` falls back to ``params``, as in BasicSR. Raises an InputError for a training
    state, a missing key (listing the keys there are) or no state dict."""
    _refuse_training_state(checkpoint, what, path)
    used = param_key
    if param_key == 'params_ema' and param_key not in checkpoint and 'params' in checkpoint:
        used = 'params'
    if used is not None and used not in checkpoint:
        refuse_authors_layout(checkpoint, what, path)
        found = [k for k in PARAM_KEYS if k in checkpoint]
        hint = (f' Set path.param_key_g: {found[0]}.' if found else
                ' Set path.param_key_g: ~ to load a bare state dict.' if is_state_dict(checkpoint) else '')
        raise InputError(f'{named(what, path)} has no {param_key!r} entry; it has {describe_keys(checkpoint)}.{hint}')
    state_dict = checkpoint if used is None else checkpoint[used]
    if not is_state_dict(state_dict):
        where = f'under {used!r}' if used is not None else 'at its top level'
        raise InputError(f'{named(what, path)} holds no state dict of tensors {where}; it has '
                         f'{describe_keys(checkpoint)}.')
    state_dict = OrderedDict(state_dict)
    consume_prefix_in_state_dict_if_present(state_dict, 'module.')
    return state_dict, used


def find_params(checkpoint, path=None, what='checkpoint'):
    """The weights of a checkpoint of any layout: under the first of :data:`WRAPPER_KEYS` that holds a state dict
    (EMA weights first), else the checkpoint itself; ``module.`` prefixes removed. See :func:`select_params`."""
    for key in WRAPPER_KEYS:
        if is_state_dict(checkpoint.get(key)):
            return select_params(checkpoint, key, path, what)
    return select_params(checkpoint, None, path, what)


def shape_of(value):
    """The shape of a tensor, or ``value`` itself when it is a shape already (``{key: shape}`` state dicts)."""
    return tuple(value.shape) if hasattr(value, 'shape') else tuple(value)


def infer_rnan_config(state_dict):
    """The RNAN arguments (:data:`CONFIG_KEYS`) of a ``{key: tensor or shape}`` state dict in this package's layout;
    None when it is no RNAN of this layout (another architecture, the authors' layout)."""
    if any(key not in state_dict for key in RNAN_KEYS):
        return None
    num_feat, num_in_ch = shape_of(state_dict['conv_first.weight'])[:2]
    num_out_ch = shape_of(state_dict['conv_last.weight'])[0]
    local_groups = {int(m.group(1)) for m in (re.match(r'body\.(\d+)\.', k) for k in state_dict) if m}
    upscale, stage = 1, 0
    while f'upsample.{stage}.weight' in state_dict:  # BasicSR Upsample: (conv, PixelShuffle) per stage
        factor = {4: 2, 9: 3}.get(shape_of(state_dict[f'upsample.{stage}.weight'])[0] // num_feat)
        if factor is None:
            return None
        upscale *= factor
        stage += 2
    return dict(num_in_ch=int(num_in_ch), num_out_ch=int(num_out_ch), num_feat=int(num_feat),
                num_group=len(local_groups) + 2, upscale=upscale)


def rnan_config(state_dict, what='checkpoint', path=None):
    """:func:`infer_rnan_config`, or an InputError saying why ``state_dict`` holds no RNAN of this package's layout."""
    config = infer_rnan_config(state_dict)
    if config is None:
        lacking = [key for key in RNAN_KEYS if key not in state_dict]
        raise InputError(f'{named(what, path)} does not hold RNAN weights: it has no {" / ".join(lacking)} (an RNAN '
                         f'has {", ".join(RNAN_KEYS)}); its tensors are {first_keys(list(state_dict), 4)}.'
                         if lacking else f'{named(what, path)} has the keys of an RNAN, but its upsampler is made of '
                         'neither x2 nor x3 stages.')
    return config


def describe_config(config):
    """``num_in_ch=3, num_out_ch=3, ..., upscale=2`` for the keys of ``CONFIG_KEYS`` present in ``config``."""
    return ', '.join(f'{key}={config[key]}' for key in CONFIG_KEYS if key in config)
