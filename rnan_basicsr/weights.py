"""Network weights, in one place: load any checkpoint safely, select its state dict, read the RNAN configuration off
it, convert the authors' layout, explain a misfit, and write self-describing ``.safetensors`` files.

Files read by :func:`load_checkpoint`:

* BasicSR's ``{'params': ..., 'params_ema': ...}`` (``models/net_g_<iter>.pth``) and bare state dicts;
* the authors' checkpoints (github.com/yulunzhang/RNAN): plain, under ``state_dict`` / ``model``, with
  DataParallel's ``module.`` prefix; :func:`convert_official_state_dict` renames their keys by name;
* ``.safetensors`` files, read as ``{'params': tensors}`` plus, when their metadata carries them (as
  :func:`save_safetensors` writes), the ``network_g`` settings under ``'network_g'``.

Pickled files are loaded with ``weights_only=True`` (no arbitrary code runs), and every way a file can be the wrong
one gets an :class:`InputError` that says what the file is and what to use. Used by
:class:`rnan_basicsr.models.rnan_model.RNANModel` (``path.pretrain_network_g``), by every BasicSR model's
``load_network`` and by resuming (through :mod:`rnan_basicsr.compat`), by the inference tool (:func:`load_rnan`) and
by the converter (:mod:`rnan_basicsr.tools.convert_official`).
"""
import inspect
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
CONVERT_HINT = 'convert it first: python scripts/convert_official_rnan.py --input FILE --output FILE.pth'


# ---------------------------------------------------------------------------------------------------------------
# loading and selecting
# ---------------------------------------------------------------------------------------------------------------
def _name(what, path):
    return f'{what} {path!r}' if path else what


def _refuse_training_state(checkpoint, what, path):
    if isinstance(checkpoint, dict) and all(key in checkpoint for key in TRAINING_STATE_KEYS):
        raise InputError(f'{_name(what, path)} is a BasicSR training state (iteration {checkpoint.get("iter")}), not '
                         'network weights. Use the weights saved beside it, '
                         f'experiments/<name>/models/net_g_{checkpoint.get("iter")}.pth; to continue training from '
                         'the state, set path.resume_state instead.')


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
    """Load ``path`` as a dict: ``torch.load(..., weights_only=True)``, or a ``.safetensors`` file (see above).

    Args:
        path (str): The file.
        what (str): How to call it in messages, e.g. ``'path.pretrain_network_g'`` or ``'--model_path'``.
        map_location: As for ``torch.load`` (default: everything on the CPU); ``.safetensors`` files are read onto
            the device it names, or the CPU when it is not a device name.

    Raises:
        InputError: the file is missing, unreadable, truncated, needs arbitrary pickled objects (code), is no
            checkpoint at all (:func:`describe_unloadable` says what it is), or is a BasicSR training state
            (``.state``) rather than network weights.
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
    shown = ', '.join(keys[:8]) + (f', ... ({len(keys)} in all)' if len(keys) > 8 else '')
    return f'keys {shown}' if keys else 'no keys'


def select_params(checkpoint, param_key='params', path=None, what='checkpoint'):
    """The state dict stored under ``param_key`` (``None``: the checkpoint itself), ``module.`` prefixes removed.

    As BasicSR does, ``params_ema`` falls back to ``params`` when a checkpoint has no EMA weights.

    Returns:
        tuple[OrderedDict, str | None]: the state dict (a new dict; the tensors are shared) and the key used.

    Raises:
        InputError: a training state, the key is missing (listing the keys the file has), or what it holds is not a
            state dict.
    """
    _refuse_training_state(checkpoint, what, path)
    used = param_key
    if param_key is not None:
        if param_key not in checkpoint and param_key == 'params_ema' and 'params' in checkpoint:
            used = 'params'
        if used not in checkpoint:
            if 'head.0.weight' in checkpoint:
                raise InputError(f'{_name(what, path)} is an authors\' RNAN checkpoint (yulunzhang/RNAN layout); '
                                 f'{CONVERT_HINT}')
            found = [k for k in PARAM_KEYS if k in checkpoint]
            hint = (f' Set path.param_key_g: {found[0]}.' if found else
                    ' Set path.param_key_g: ~ to load a bare state dict.' if is_state_dict(checkpoint) else '')
            raise InputError(f'{_name(what, path)} has no {param_key!r} entry; it has {describe_keys(checkpoint)}.'
                             f'{hint}')
        state_dict = checkpoint[used]
    else:
        state_dict = checkpoint
    if not is_state_dict(state_dict):
        where = f'under {used!r}' if used is not None else 'at its top level'
        raise InputError(f'{_name(what, path)} holds no state dict of tensors {where}; it has '
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


# ---------------------------------------------------------------------------------------------------------------
# what the weights are
# ---------------------------------------------------------------------------------------------------------------
def _shape(value):
    """The shape of a tensor, or ``value`` itself when it is a shape already (as :func:`expected_state_dict`)."""
    return tuple(value.shape) if hasattr(value, 'shape') else tuple(value)


#: the keys every RNAN state dict of this package's layout has
RNAN_KEYS = ('conv_first.weight', 'conv_last.weight', 'group_nl_low.conv.weight', 'group_nl_high.conv.weight')


def infer_rnan_config(state_dict):
    """The RNAN arguments (``CONFIG_KEYS``) of a state dict in this package's layout (``conv_first``, ``body``...).

    Args:
        state_dict (dict): ``{key: tensor}``, or ``{key: shape}``.

    Returns:
        dict | None: ``num_in_ch``, ``num_out_ch``, ``num_feat``, ``num_group``, ``upscale``; None when the state
        dict is not an RNAN of this package (e.g. another architecture, or the authors' layout).
    """
    if any(key not in state_dict for key in RNAN_KEYS):
        return None
    num_feat, num_in_ch = _shape(state_dict['conv_first.weight'])[:2]
    num_out_ch = _shape(state_dict['conv_last.weight'])[0]
    local_groups = {int(m.group(1)) for m in (re.match(r'body\.(\d+)\.', k) for k in state_dict) if m}
    upscale, stage = 1, 0
    while f'upsample.{stage}.weight' in state_dict:  # BasicSR Upsample: (conv, PixelShuffle) per stage
        factor = {4: 2, 9: 3}.get(_shape(state_dict[f'upsample.{stage}.weight'])[0] // num_feat)
        if factor is None:
            return None
        upscale *= factor
        stage += 2
    return dict(num_in_ch=int(num_in_ch), num_out_ch=int(num_out_ch), num_feat=int(num_feat),
                num_group=len(local_groups) + 2, upscale=upscale)


def describe_config(config):
    """``num_in_ch=3, num_out_ch=3, ..., upscale=2`` for the keys of ``CONFIG_KEYS`` present in ``config``."""
    return ', '.join(f'{key}={config[key]}' for key in CONFIG_KEYS if key in config)


def expected_state_dict(network_opt):
    """Shapes of the state dict that ``network_opt`` builds, or None if it cannot be known cheaply.

    Only architectures of this package are built (on the meta device: no memory, no initialisation cost); other
    registered classes may download or read files in their constructor. ``build_network`` is not used because it
    would set up BasicSR's root logger before ``train_pipeline`` does.
    """
    from basicsr.utils.registry import ARCH_REGISTRY

    network_opt = dict(network_opt)
    type_name = network_opt.pop('type', None)
    try:
        cls = ARCH_REGISTRY.get(type_name)
    except KeyError:
        return None
    if not getattr(cls, '__module__', '').startswith('rnan_basicsr.'):
        return None
    try:
        with torch.device('meta'):
            net = cls(**network_opt)
    except Exception:  # bad options are reported by the option checks; here we only compare shapes
        return None
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def _shown(keys, limit):
    return ', '.join(keys[:limit]) + (f', ... ({len(keys)} in all)' if len(keys) > limit else '')


def describe_mismatch(expected, found, limit=5):
    """'' if ``found`` loads strictly where ``expected`` is, else its first missing, unexpected and misshapen keys.

    Args:
        expected, found (dict): ``{key: tensor}`` or ``{key: shape}``; ``expected`` is the network's.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [f'{k} {_shape(found[k])} where the network has {_shape(expected[k])}' for k in expected
             if k in found and _shape(found[k]) != _shape(expected[k])]
    return '; '.join(f'{title}: {_shown(keys, limit)}' for title, keys in (
        ('missing', missing), ('unexpected', unexpected), ('shape mismatch', wrong)) if keys)


def check_fits(expected, state_dict, path, what='path.pretrain_network_g', network_key='network_g',
               network_type='RNAN'):
    """Raise an InputError when ``state_dict`` cannot be loaded strictly where ``expected`` is.

    ``expected`` and ``state_dict`` map keys to tensors or shapes (:func:`expected_state_dict`). The message says, in
    this order: the file is in the authors' layout (convert it); both are RNANs with other settings (which ones);
    else the first missing / unexpected / misshapen keys.
    """
    mismatch = describe_mismatch(expected, state_dict)
    if not mismatch:
        return
    if 'head.0.weight' in state_dict and 'head.0.weight' not in expected:
        raise InputError(f'{what} {path!r} holds an authors\' RNAN checkpoint (yulunzhang/RNAN layout); '
                         f'{CONVERT_HINT}')
    strict = f'strict_load_{network_key[len("network_"):]}: false'
    ours, theirs = infer_rnan_config(expected), infer_rnan_config(state_dict)
    if ours is not None and theirs is not None and ours != theirs:
        differing = ', '.join(k for k in ours if ours[k] != theirs[k])
        raise InputError(f'{what} {path!r} holds an RNAN with {describe_config(theirs)}, but {network_key} has '
                         f'{describe_config(ours)} (they differ in {differing}). Use a checkpoint trained for this '
                         f'task, or set {network_key} (and scale) to the checkpoint\'s values; {strict} would load '
                         'only the tensors that fit.')
    raise InputError(f'{what} {path!r} does not fit {network_key} ({network_type}): {mismatch}. Use weights of this '
                     f'architecture, or {strict} to load only the matching tensors.')


def check_task(config, task_key, scale=None, what='--model_path', path=None):
    """Raise an InputError when an RNAN of ``config`` cannot do ``task_key`` (channels, SR or not, ``scale``)."""
    from rnan_basicsr.tasks import SCALE, TASKS, get_task

    task, upscale = get_task(task_key), config['upscale']
    channels = (config['num_in_ch'], config['num_out_ch'])
    if channels != (task.channels, task.channels):
        fits = [key for key, other in sorted(TASKS.items())
                if (other.channels, other.channels) == channels and (other.level is SCALE) == (upscale > 1)]
        hint = f' It fits --task {" / ".join(fits)}.' if fits else ''
        raise InputError(f'{_name(what, path)} is an RNAN with {describe_config(config)}, but --task {task_key} '
                         f'({task.title}) needs {task.channels} input and output channel(s).{hint}')
    if task.level is SCALE and upscale == 1:
        raise InputError(f'{_name(what, path)} is a restoration model (upscale=1), not super-resolution; use '
                         '--task dn_rgb or demosaic with it.')
    if task.level is not SCALE and upscale > 1:
        raise InputError(f'{_name(what, path)} is a x{upscale} super-resolution model; use --task sr.')
    if scale is not None and scale != upscale:
        raise InputError(f'--scale {scale} does not match {_name(what, path)}, a x{upscale} model; use '
                         f'--scale {upscale} or a x{scale} checkpoint.')


#: RNAN arguments that change the output but cannot be read off the weights: a file's saved ``network_g`` settings
#: give them (see :func:`network_settings`)
SETTING_KEYS = ('img_range', 'rgb_mean', 'nl_softmax')


def full_settings(network_opt):
    """The :data:`SETTING_KEYS` of ``network_opt`` (RNAN arguments), RNAN's defaults for those it leaves out;
    ``rgb_mean`` only for super-resolution (restoration does not use it). Saved with the weights so that no later
    reader has to assume them."""
    from rnan_basicsr.archs.rnan_arch import RNAN

    defaults = {k: p.default for k, p in inspect.signature(RNAN).parameters.items()}
    settings = {key: network_opt.get(key, defaults[key]) for key in SETTING_KEYS}
    if network_opt.get('upscale', defaults['upscale']) == 1:
        del settings['rgb_mean']
    return settings


def _same_setting(a, b):
    """Equal settings, a JSON list (as saved in ``.safetensors`` metadata) matching a tuple."""
    normal = (lambda v: tuple(v) if isinstance(v, (list, tuple)) else v)
    return normal(a) == normal(b)


def network_settings(checkpoint, given, path, what='--model_path'):
    """The :data:`SETTING_KEYS` of a network to build from ``checkpoint``: saved settings win, flags only fill gaps.

    A ``.safetensors`` file written by this package (``--save-safetensors``, the converter) carries the ``network_g``
    it was trained with; a flag or option that contradicts it would build a different network from the same weights
    (for ``nl_softmax``: other images, no error), so it is refused.

    Args:
        checkpoint (dict): As :func:`load_checkpoint` returns it.
        given (dict): Values the user asked for (a flag, an option); None values mean "not given".
        path, what (str): The file and how messages name it (a given key is named as its flag, ``--<key>``).

    Returns:
        tuple[dict, dict]: the network arguments the file or the user gave (RNAN's defaults fill the rest), and
        for each key of :data:`SETTING_KEYS` where its value comes from: ``'saved'``, ``'given'`` or ``'default'``.

    Raises:
        InputError: a given value contradicts the file's saved setting.
    """
    saved = {k: v for k, v in (checkpoint.get(NETWORK_KEY) or {}).items() if k != 'type'}
    given = {k: v for k, v in given.items() if v is not None}
    for key, value in given.items():
        if key in SETTING_KEYS and key in saved and not _same_setting(saved[key], value):
            flag = f'--{key}'
            raise InputError(f'{flag} {value} contradicts {what} {path!r}, whose saved network_g has {key}: '
                             f'{saved[key]} (the setting it was trained with). Drop {flag}: a file\'s saved '
                             'settings are used.')
    sources = {key: 'saved' if key in saved else 'given' if key in given else 'default' for key in SETTING_KEYS}
    # other keys (e.g. nl_impl, the same results computed another way) follow the user
    return {**saved, **given, **{k: saved[k] for k in SETTING_KEYS if k in saved}}, sources


def describe_softmax(config, source):
    """Words for the run line: which softmax the non-local blocks use and why (``source`` as
    :func:`network_settings` gives it)."""
    softmax = full_settings(config)['nl_softmax']
    why = {'saved': 'saved in the file', 'given': 'as --nl_softmax asks',
           'default': 'assumed: the file saves no network settings; --nl_softmax key for a model trained with the '
                      "paper's formula"}[source]
    return f'nl_softmax={softmax} ({why})'


def load_rnan(path, what='--model_path', task=None, scale=None, sources=None, **network_opt):
    """Build the RNAN that ``path`` holds, whatever its format, and check that it fits ``task`` and ``scale``.

    The configuration is read off the weights (:data:`CONFIG_KEYS`); the settings the weights cannot tell
    (:data:`SETTING_KEYS`) come from the ``network_g`` a ``.safetensors`` file carries, else from ``network_opt``
    (e.g. ``nl_softmax``; None values are ignored), else RNAN's defaults. A ``network_opt`` value that contradicts the
    file's saved setting is refused (:func:`network_settings`). The authors' layout is converted by name.

    Args:
        sources (dict | None): If given, filled with where each setting came from (see :func:`network_settings`).

    Returns:
        tuple[RNAN, dict]: the network on the CPU in eval mode, and its arguments.

    Raises:
        InputError: unreadable file, a training state, no RNAN weights, a contradicted saved setting, or a task /
            scale it does not fit.
    """
    from rnan_basicsr.archs.rnan_arch import RNAN

    checkpoint = load_checkpoint(path, what)
    state_dict, _ = find_params(checkpoint, path, what)
    if 'head.0.weight' in state_dict:  # the authors' layout
        config = infer_official_config(state_dict)
        state_dict = convert_official_state_dict(state_dict)
    else:
        config = infer_rnan_config(state_dict)
        if config is None:
            lacking = [key for key in RNAN_KEYS if key not in state_dict]
            raise InputError(f'{what} {path!r} does not hold RNAN weights: it has no {" / ".join(lacking)} (an RNAN '
                             f'has {", ".join(RNAN_KEYS)}); its tensors are {_shown(list(state_dict), 4)}.'
                             if lacking else f'{what} {path!r} has the keys of an RNAN, but its upsampler is made of '
                             'neither x2 nor x3 stages.')
    settings, found_sources = network_settings(checkpoint, network_opt, path, what)
    if sources is not None:
        sources.update(found_sources)
    config = {**settings, **config}
    if task is not None:
        check_task(config, task, scale, what, path)
    net = RNAN(**config)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise InputError(f'{what} {path!r} does not load into RNAN({describe_config(config)}): '
                         f'{" ".join(str(error).split())[:300]}') from None
    return net.eval(), config


def check_saved_settings(checkpoint, network_opt, path, what='path.pretrain_network_g', network_key='network_g'):
    """The saved ``network_g`` settings (:data:`SETTING_KEYS`) of ``checkpoint`` that ``network_opt`` leaves out, to
    build the network with; a setting it states otherwise is refused.

    ``network_opt`` is the option file's ``network_<x>``. Other architectures than RNAN, and files without saved
    settings (the authors', older ones), give ``{}``.

    Raises:
        InputError: naming both values, e.g. ``network_g.nl_softmax: query`` against the file's ``key``.
    """
    saved = checkpoint.get(NETWORK_KEY) or {}
    if not saved or network_opt.get('type') != 'RNAN' or saved.get('type', 'RNAN') != 'RNAN':
        return {}
    for key in SETTING_KEYS:
        if key in saved and key in network_opt and not _same_setting(saved[key], network_opt[key]):
            raise InputError(f'{what} {path!r} was saved with {network_key}.{key}: {saved[key]}, but {network_key} '
                             f'has {key}: {network_opt[key]}; the same weights would give other outputs. Set '
                             f'{network_key}.{key}: {saved[key]}, or leave it out to use the saved value.')
    return {key: saved[key] for key in SETTING_KEYS if key in saved and key not in network_opt}


def save_safetensors(state_dict, path, network_opt):
    """Write ``state_dict`` to ``path`` as ``.safetensors``, with ``network_opt`` (``network_g``) in its metadata.

    The file is written atomically (see :func:`rnan_basicsr.utils.atomic.atomic_write`); :func:`load_checkpoint`
    reads it back as ``{'params': state_dict, 'network_g': network_opt}`` (tuples become lists).
    """
    from safetensors.torch import save

    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in state_dict.items()}
    data = save(tensors, metadata={NETWORK_KEY: json.dumps(dict(network_opt))})
    with atomic_write(path) as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------------------------
# the authors' layout (github.com/yulunzhang/RNAN)
# ---------------------------------------------------------------------------------------------------------------
# Keys are renamed by name, never matched by position. The authors' mean-shift convolutions (``sub_mean``,
# ``add_mean``, SR only) are fixed identity convolutions with bias -/+ 255 * mean; they are checked and dropped,
# because our RNAN keeps the mean as a buffer built from ``rgb_mean``.

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


def _count_groups(state_dict):
    """Number of local groups: ``body.<k>.body.0...`` for k = 0 .. num_group - 3 (``body.<num_group-2>`` is a conv)."""
    indices = {int(m.group(1)) for m in (re.match(r'body\.(\d+)\.body\.0\.', k) for k in state_dict) if m}
    return len(indices)


def infer_official_config(checkpoint):
    """The RNAN arguments of an authors' checkpoint: num_in_ch, num_out_ch, num_feat, num_group, upscale, rgb_mean.

    Args:
        checkpoint (dict): any layout :func:`find_params` reads.

    Raises:
        InputError: the state dict is not an RNAN checkpoint of the authors' layout.
    """
    state_dict, _ = find_params(checkpoint)
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
        checkpoint (dict): any layout :func:`find_params` reads (plain, ``state_dict``, ``model``, ``params``,
            ``params_ema``; with or without a ``module.`` prefix).

    Returns:
        OrderedDict: a state dict that ``RNAN(**infer_official_config(checkpoint))`` loads with ``strict=True``.

    Raises:
        InputError: listing the authors' keys that match nothing, and our keys that nothing provides (or wrong shapes).
    """
    from rnan_basicsr.archs.rnan_arch import RNAN

    state_dict, _ = find_params(checkpoint)
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
        parts = [f'{title}: {_shown(keys, 20)}' for title, keys in (
            ('authors\' keys that match no RNAN key', unmatched), ('RNAN keys missing from the checkpoint', missing),
            ('shape mismatches', wrong_shape)) if keys]
        raise InputError(f'cannot convert this checkpoint (inferred {config}): ' + '; '.join(parts))
    return OrderedDict((k, converted[k]) for k in expected)
