"""The authors' layout (github.com/yulunzhang/RNAN) onto this package's RNAN, by key names, never by position; the
configuration is then read off the renamed keys by the one inferer. The authors' mean-shift convolutions (SR only:
identity weights, bias -/+ 255 * mean) are checked and dropped: our RNAN builds the mean from ``rgb_mean``.
"""
import re
import torch
from collections import OrderedDict

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.weights.checkpoint import find_params, first_keys, rnan_config

# The authors' name of a top-level module -> ours, and the rules for inside it: None (weight and bias only) or
# 'block' (one attention block, _BLOCK_RULES). The closing convolution of ``body`` is its one entry with a weight of
# its own (``body.<num_group - 2>.weight``); the local groups hold ``body.<k>.body.<0|1>...``.
_TOP_RULES = [
    (r'head\.0\.', 'conv_first.', None),
    (r'body_nl_low\.0\.body\.1\.', 'group_nl_low.conv.', None),
    (r'body_nl_low\.0\.body\.0\.', 'group_nl_low.block.', 'block'),
    (r'body_nl_high\.0\.body\.1\.', 'group_nl_high.conv.', None),
    (r'body_nl_high\.0\.body\.0\.', 'group_nl_high.block.', 'block'),
    (r'body\.(\d+)\.body\.1\.', r'body.\1.conv.', None),
    (r'body\.(\d+)\.body\.0\.', r'body.\1.block.', 'block'),
    (r'body\.\d+\.', 'conv_after_body.', None),
    (r'tail\.0\.(\d+)\.', r'upsample.\1.', None),
    (r'tail\.1\.', 'conv_last.', None),
    (r'tail\.0\.', 'conv_last.', None),
]
# Inside one attention block: the authors' name (after ``...body.0.``) -> ours (after ``...block.``).
_BLOCK_RULES = [
    (r'RA_RB1\.0\.body\.0\.', 'pre_block.conv1.'),
    (r'RA_RB1\.0\.body\.2\.', 'pre_block.conv2.'),
    (r'RA_TB\.0\.body\.(\d+)\.body\.0\.', r'trunk.body.\1.conv1.'),
    (r'RA_TB\.0\.body\.(\d+)\.body\.2\.', r'trunk.body.\1.conv2.'),
    (r'RA_MB\.0\.MB_RB1\.0\.(g|theta|phi|W)\.', r'mask.non_local.\1.'),  # non-local mask branch: NLB first
    (r'RA_MB\.0\.MB_RB1\.\d\.body\.0\.', 'mask.pre_block.conv1.'),
    (r'RA_MB\.0\.MB_RB1\.\d\.body\.2\.', 'mask.pre_block.conv2.'),
    (r'RA_MB\.0\.MB_Down\.0\.', 'mask.down.'),
    (r'RA_MB\.0\.MB_RB2\.(\d+)\.body\.0\.', r'mask.low_blocks.\1.conv1.'),
    (r'RA_MB\.0\.MB_RB2\.(\d+)\.body\.2\.', r'mask.low_blocks.\1.conv2.'),
    (r'RA_MB\.0\.MB_Up\.0\.', 'mask.up.'),
    (r'RA_MB\.0\.MB_RB3\.0\.body\.0\.', 'mask.post_block.conv1.'),
    (r'RA_MB\.0\.MB_RB3\.0\.body\.2\.', 'mask.post_block.conv2.'),
    (r'RA_MB\.0\.MB_1x1conv\.0\.', 'mask.conv1x1.'),
    (r'RA_tail\.(\d+)\.body\.0\.', r'post_blocks.\1.conv1.'),
    (r'RA_tail\.(\d+)\.body\.2\.', r'post_blocks.\1.conv2.'),
]
_PARAM = r'(weight|bias)$'


def _rename(key):
    """Our name for one authors' key, or None if no rule matches."""
    for pattern, replacement, inner in _TOP_RULES:
        match = re.match(pattern, key)
        if not match:
            continue
        prefix, rest = match.expand(replacement), key[match.end():]
        if inner is None:
            return prefix + rest if re.fullmatch(_PARAM, rest) else None
        for block_pattern, block_replacement in _BLOCK_RULES:
            block_match = re.match(block_pattern + _PARAM, rest)
            if block_match:
                return prefix + block_match.expand(block_replacement + r'\g<' + str(block_match.re.groups) + '>')
        return None
    return None


def _check_mean_shift(state_dict):
    """The authors' MeanShift convs must be identity weights with bias -/+ 255 * mean (same mean in both)."""
    eye = torch.eye(3).view(3, 3, 1, 1)
    present = [k for k in ('sub_mean.weight', 'sub_mean.bias', 'add_mean.weight', 'add_mean.bias') if k in state_dict]
    if not present:
        return
    if len(present) != 4:
        raise InputError(f'incomplete mean-shift layers in the checkpoint: found only {present}')
    for name in ('sub_mean', 'add_mean'):
        if not torch.allclose(state_dict[f'{name}.weight'].float(), eye):
            raise InputError(f'{name}.weight is not the identity; this checkpoint normalises by a std, which RNAN '
                             'here does not support')
    if not torch.allclose(state_dict['sub_mean.bias'].float(), -state_dict['add_mean.bias'].float()):
        raise InputError('sub_mean and add_mean use different means; RNAN here needs one rgb_mean')


def convert_official_state_dict(checkpoint, what='checkpoint', path=None):
    """``(state_dict, config)``: the authors' weights (in any wrapper :func:`~.checkpoint.find_params` reads) under
    our keys, which ``RNAN(**config)`` loads strictly; ``config`` is read off them, with the authors' ``rgb_mean`` for
    SR. Raises an InputError for another layout, or listing the keys that match nothing, are missing or misshapen."""
    state_dict, _ = find_params(checkpoint)
    if 'head.0.weight' not in state_dict:
        if 'conv_first.weight' in state_dict:
            raise InputError('this state dict is already in rnan_basicsr format (it has conv_first.weight); '
                             'load it directly with path.pretrain_network_g')
        raise InputError('not an RNAN checkpoint of the authors\' layout: head.0.weight is missing; first keys: '
                         f'{list(state_dict)[:5]}')
    _check_mean_shift(state_dict)
    converted, origin, unmatched = OrderedDict(), {}, []
    for key, value in state_dict.items():
        if key.startswith(('sub_mean.', 'add_mean.')):
            continue
        new_key = _rename(key)
        if new_key is None or new_key in converted:
            unmatched.append(key)
        else:
            converted[new_key], origin[new_key] = value, key
    config = rnan_config(converted, what, path)
    if config['upscale'] > 1 and 'sub_mean.bias' in state_dict:
        config['rgb_mean'] = tuple(round(v, 6) for v in (-state_dict['sub_mean.bias'] / 255.).tolist())
    expected = {k: v.shape for k, v in RNAN(**config).state_dict().items()}
    missing = [k for k in expected if k not in converted]
    unmatched += [origin[k] for k in converted if k not in expected]
    wrong_shape = [f'{k}: {tuple(converted[k].shape)} vs {tuple(expected[k])}' for k in converted
                   if k in expected and converted[k].shape != expected[k]]
    if unmatched or missing or wrong_shape:
        parts = [f'{title}: {first_keys(keys, 20)}' for title, keys in (
            ('authors\' keys that match no RNAN key', unmatched), ('RNAN keys missing from the checkpoint', missing),
            ('shape mismatches', wrong_shape)) if keys]
        raise InputError(f'cannot convert this checkpoint (inferred {config}): ' + '; '.join(parts))
    return OrderedDict((k, converted[k]) for k in expected), config


def to_our_layout(state_dict, what='checkpoint', path=None):
    """``state_dict`` (either layout) in this package's layout, and the RNAN configuration its weights tell; an
    InputError when it does not convert or holds no RNAN (:func:`~.checkpoint.rnan_config`)."""
    if 'head.0.weight' in state_dict:
        return convert_official_state_dict(state_dict, what, path)
    return state_dict, rnan_config(state_dict, what, path)
