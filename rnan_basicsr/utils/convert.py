"""Convert the authors' released RNAN checkpoints (github.com/yulunzhang/RNAN) to our
:class:`~rnan_basicsr.archs.rnan_arch.RNAN`.

Keys are renamed by name, never matched by position. The authors' mean-shift convolutions (``sub_mean``,
``add_mean``, SR only) are fixed identity convolutions with bias -/+ 255 * mean; they are checked and dropped,
because our RNAN keeps the mean as a buffer built from ``rgb_mean``.
"""
import re
import torch
from collections import OrderedDict

from rnan_basicsr.utils.errors import InputError

WRAPPER_KEYS = ('params_ema', 'params', 'state_dict', 'model')

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


def unwrap_state_dict(checkpoint):
    """Return the plain state dict of a checkpoint: itself, or under params_ema / params / state_dict / model.

    A ``module.`` prefix (from DataParallel / DistributedDataParallel) is removed.
    """
    if not isinstance(checkpoint, dict):
        raise InputError(f'expected a state dict (a dict of tensors), got {type(checkpoint).__name__}')
    state_dict = checkpoint
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            state_dict = checkpoint[key]
            break
    if not state_dict or not all(torch.is_tensor(v) for v in state_dict.values()):
        if {'iter', 'optimizers'} <= set(checkpoint):
            raise InputError('this is a BasicSR training state (.state), not network weights; convert the matching '
                             'models/net_g_<iter>.pth instead')
        raise InputError(f'no state dict of tensors found; top-level keys: {sorted(checkpoint)[:10]}')
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items())


def _count_groups(state_dict):
    """Number of local groups: ``body.<k>.body.0...`` for k = 0 .. num_group - 3 (``body.<num_group-2>`` is a conv)."""
    indices = {int(m.group(1)) for m in (re.match(r'body\.(\d+)\.body\.0\.', k) for k in state_dict) if m}
    return len(indices)


def infer_official_config(state_dict):
    """The RNAN arguments of an authors' state dict: num_in_ch, num_out_ch, num_feat, num_group, upscale, rgb_mean.

    Raises:
        InputError: the state dict is not an RNAN checkpoint of the authors' layout.
    """
    state_dict = unwrap_state_dict(state_dict)
    if 'head.0.weight' not in state_dict:
        if 'conv_first.weight' in state_dict:
            raise InputError('this state dict is already in rnan_basicsr format (it has conv_first.weight); '
                             'load it directly with path.pretrain_network_g')
        raise InputError('not an RNAN checkpoint of the authors\' layout: head.0.weight is missing; first keys: '
                         f'{list(state_dict)[:5]}')
    head = state_dict['head.0.weight']
    num_feat, num_in_ch = head.shape[0], head.shape[1]
    num_local = _count_groups(state_dict)
    config = dict(num_in_ch=num_in_ch, num_feat=num_feat, num_group=num_local + 2)
    if 'tail.0.weight' in state_dict:  # restoration: a single conv3x3 tail
        config.update(num_out_ch=state_dict['tail.0.weight'].shape[0], upscale=1)
        return config
    upscale, stage = 1, 0
    while f'tail.0.{stage}.weight' in state_dict:
        factor_sq = state_dict[f'tail.0.{stage}.weight'].shape[0] // num_feat
        upscale *= {4: 2, 9: 3}.get(factor_sq, 0)
        stage += 2  # conv, PixelShuffle
    if upscale <= 1 or 'tail.1.weight' not in state_dict:
        raise InputError('cannot tell the scale of this SR checkpoint: expected tail.0.<i>.weight with 4*num_feat '
                         '(x2 stage) or 9*num_feat (x3) outputs and tail.1.weight')
    config.update(num_out_ch=state_dict['tail.1.weight'].shape[0], upscale=upscale)
    if 'sub_mean.bias' in state_dict:
        config['rgb_mean'] = tuple(round(v, 6) for v in (-state_dict['sub_mean.bias'] / 255.).tolist())
    return config


def _rename(key, num_group):
    """Our name for one authors' key, or None if no rule matches."""
    top_rules = [
        (r'head\.0\.', 'conv_first.', None),
        (r'body_nl_low\.0\.body\.1\.', 'group_nl_low.conv.', None),
        (r'body_nl_low\.0\.body\.0\.', 'group_nl_low.block.', 'block'),
        (r'body_nl_high\.0\.body\.1\.', 'group_nl_high.conv.', None),
        (r'body_nl_high\.0\.body\.0\.', 'group_nl_high.block.', 'block'),
        (rf'body\.{num_group - 2}\.', 'conv_after_body.', None),
        (r'body\.(\d+)\.body\.1\.', r'body.\1.conv.', None),
        (r'body\.(\d+)\.body\.0\.', r'body.\1.block.', 'block'),
        (r'tail\.0\.(\d+)\.', r'upsample.\1.', None),
        (r'tail\.1\.', 'conv_last.', None),
        (r'tail\.0\.', 'conv_last.', None),
    ]
    for pattern, replacement, inner in top_rules:
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


def convert_official_state_dict(checkpoint):
    """Map the authors' RNAN state dict onto our RNAN's keys.

    Args:
        checkpoint (dict): a plain state dict, or one wrapped in ``state_dict`` / ``model`` / ``params`` /
            ``params_ema``; a ``module.`` prefix is accepted.

    Returns:
        OrderedDict: a state dict that ``RNAN(**infer_official_config(checkpoint))`` loads with ``strict=True``.

    Raises:
        InputError: listing the authors' keys that match nothing, and our keys that nothing provides (or wrong shapes).
    """
    from rnan_basicsr.archs.rnan_arch import RNAN

    state_dict = unwrap_state_dict(checkpoint)
    config = infer_official_config(state_dict)
    _check_mean_shift(state_dict)
    converted, origin, unmatched = OrderedDict(), {}, []
    for key, value in state_dict.items():
        if key.startswith(('sub_mean.', 'add_mean.')):
            continue
        new_key = _rename(key, config['num_group'])
        if new_key is None or new_key in converted:
            unmatched.append(key)
        else:
            converted[new_key], origin[new_key] = value, key
    expected = {k: v.shape for k, v in RNAN(**config).state_dict().items()}
    missing = [k for k in expected if k not in converted]
    unmatched += [origin[k] for k in converted if k not in expected]
    wrong_shape = [f'{k}: {tuple(converted[k].shape)} vs {tuple(expected[k])}' for k in converted
                   if k in expected and converted[k].shape != expected[k]]
    if unmatched or missing or wrong_shape:
        parts = []
        for title, keys in (('authors\' keys that match no RNAN key', unmatched),
                            ('RNAN keys missing from the checkpoint', missing), ('shape mismatches', wrong_shape)):
            if keys:
                shown = ', '.join(keys[:20]) + (f', ... ({len(keys)} in all)' if len(keys) > 20 else '')
                parts.append(f'{title}: {shown}')
        raise InputError(f'cannot convert this checkpoint (inferred {config}): ' + '; '.join(parts))
    return OrderedDict((k, converted[k]) for k in expected)
