"""Loading network weights safely, and reading an RNAN configuration off its weights.

Used by :class:`rnan_basicsr.models.rnan_model.RNANModel` (``path.pretrain_network_g``), by every BasicSR model's
``load_network`` and by resuming (through :mod:`rnan_basicsr.compat`), and by ``scripts/inference_rnan.py``.
Checkpoints are loaded with ``weights_only=True`` (no arbitrary pickled code runs), and every way a file can be
the wrong one gets an :class:`InputError` that says what the file is and what to use.
"""
import re
import torch
from collections import OrderedDict
from os import path as osp

from rnan_basicsr.utils.errors import InputError

PARAM_KEYS = ('params', 'params_ema')
TRAINING_STATE_KEYS = ('iter', 'optimizers')
# The RNAN arguments that can be read off the weights (the mean, softmax mode and img_range cannot).
CONFIG_KEYS = ('num_in_ch', 'num_out_ch', 'num_feat', 'num_group', 'upscale')


def load_checkpoint(path, what='checkpoint', map_location='cpu'):
    """``torch.load(path, map_location=map_location, weights_only=True)`` with errors that name the file.

    Args:
        path (str): The file.
        what (str): How to call it in messages, e.g. ``'path.pretrain_network_g'`` or ``'--model_path'``.
        map_location: As for ``torch.load`` (default: everything on the CPU).

    Raises:
        InputError: the file is missing, unreadable, truncated, needs arbitrary pickled objects, or is a BasicSR
            training state (``.state``) rather than network weights.
    """
    if not osp.isfile(path):
        raise InputError(f'{what} {path!r} does not exist or is not a file.')
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for truncated, foreign or unsafe files
        first_line = str(error).splitlines()[0] if str(error) else ''
        raise InputError(f'cannot load {what} {path!r} with weights_only=True ({type(error).__name__}: '
                         f'{first_line}). It is truncated, not a file torch.save wrote, or holds objects other than '
                         'tensors; use network weights such as experiments/<name>/models/net_g_<iter>.pth.') from None
    if isinstance(checkpoint, dict) and all(key in checkpoint for key in TRAINING_STATE_KEYS):
        raise InputError(f'{what} {path!r} is a BasicSR training state (iteration {checkpoint.get("iter")}), not '
                         'network weights. Use the weights saved beside it, '
                         f'experiments/<name>/models/net_g_{checkpoint.get("iter")}.pth; to continue training from '
                         'the state, set path.resume_state instead.')
    if not isinstance(checkpoint, dict):
        raise InputError(f'{what} {path!r} holds a {type(checkpoint).__name__}, not a dict of network weights.')
    return checkpoint


def is_state_dict(obj):
    """True for a non-empty dict whose values are all tensors."""
    return isinstance(obj, dict) and bool(obj) and all(torch.is_tensor(v) for v in obj.values())


def describe_keys(checkpoint):
    """``"params, params_ema"``-style summary of a checkpoint's top-level keys, for messages."""
    keys = [str(k) for k in checkpoint]
    if is_state_dict(checkpoint):
        return f'a bare state dict ({len(keys)} tensors, first {keys[0]!r})'
    shown = ', '.join(keys[:8]) + (f', ... ({len(keys)} in all)' if len(keys) > 8 else '')
    return f'keys {shown}' if keys else 'no keys'


def select_params(checkpoint, param_key, path, what='checkpoint'):
    """The state dict stored under ``param_key`` (``None``: the checkpoint itself), ``module.`` prefixes removed.

    As BasicSR does, ``params_ema`` falls back to ``params`` when a checkpoint has no EMA weights.

    Returns:
        tuple[OrderedDict, str | None]: the state dict and the key actually used.

    Raises:
        InputError: the key is missing (listing the keys the file has), or what it holds is not a state dict.
    """
    used = param_key
    if param_key is not None:
        if param_key not in checkpoint and param_key == 'params_ema' and 'params' in checkpoint:
            used = 'params'
        if used not in checkpoint:
            if 'head.0.weight' in checkpoint:
                raise InputError(f'{what} {path!r} is an authors\' RNAN checkpoint (yulunzhang/RNAN layout); convert '
                                 'it first: python scripts/convert_official_rnan.py --input FILE --output FILE.pth')
            found = [k for k in PARAM_KEYS if k in checkpoint]
            hint = (f' Set path.param_key_g: {found[0]}.' if found else
                    ' Set path.param_key_g: ~ to load a bare state dict.' if is_state_dict(checkpoint) else '')
            raise InputError(f'{what} {path!r} has no {param_key!r} entry; it has {describe_keys(checkpoint)}.{hint}')
        state_dict = checkpoint[used]
    else:
        state_dict = checkpoint
    if not is_state_dict(state_dict):
        where = f'under {used!r}' if used is not None else 'at its top level'
        raise InputError(f'{what} {path!r} holds no state dict of tensors {where}; it has {describe_keys(checkpoint)}.')
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items()), used


def infer_rnan_config(state_dict):
    """The RNAN arguments (``CONFIG_KEYS``) of a state dict in this package's layout (``conv_first``, ``body``...).

    Returns:
        dict | None: ``num_in_ch``, ``num_out_ch``, ``num_feat``, ``num_group``, ``upscale``; None when the state
        dict is not an RNAN of this package (e.g. another architecture, or the authors' layout).
    """
    needed = ('conv_first.weight', 'conv_last.weight', 'group_nl_low.conv.weight', 'group_nl_high.conv.weight')
    if any(key not in state_dict for key in needed):
        return None
    num_feat, num_in_ch = state_dict['conv_first.weight'].shape[:2]
    num_out_ch = state_dict['conv_last.weight'].shape[0]
    local_groups = {int(m.group(1)) for m in (re.match(r'body\.(\d+)\.', k) for k in state_dict) if m}
    upscale, stage = 1, 0
    while f'upsample.{stage}.weight' in state_dict:  # BasicSR Upsample: (conv, PixelShuffle) per stage
        factor = {4: 2, 9: 3}.get(state_dict[f'upsample.{stage}.weight'].shape[0] // num_feat)
        if factor is None:
            return None
        upscale *= factor
        stage += 2
    return dict(num_in_ch=int(num_in_ch), num_out_ch=int(num_out_ch), num_feat=int(num_feat),
                num_group=len(local_groups) + 2, upscale=upscale)


def describe_config(config):
    """``num_in_ch=3, num_out_ch=3, ..., upscale=2`` for the keys of ``CONFIG_KEYS`` present in ``config``."""
    return ', '.join(f'{key}={config[key]}' for key in CONFIG_KEYS if key in config)
