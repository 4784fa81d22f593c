"""Fitting a network: which state dict a network expects, why a file does not fit it (another architecture, other
settings, another task), the settings saved beside the weights, and :func:`load_rnan`, the RNAN a file holds."""
import inspect
import torch

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.tasks import SCALE, TASKS, get_task
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.weights.authors import to_our_layout
from rnan_basicsr.weights.checkpoint import (NETWORK_KEY, describe_config, find_params, first_keys, infer_rnan_config,
                                             load_checkpoint, named, refuse_authors_layout, shape_of)

#: RNAN arguments that change the output but cannot be read off the weights: a file's saved ``network_g`` settings
#: give them (see :func:`network_settings`)
SETTING_KEYS = ('img_range', 'rgb_mean', 'nl_softmax')


def expected_state_dict(network_opt):
    """Shapes of the state dict that ``network_opt`` builds, or None if it cannot be known cheaply.

    Only this package's architectures are built, on the meta device (others may download files when built); not
    with ``build_network``, which would set up BasicSR's root logger before ``train_pipeline`` does.
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


def describe_mismatch(expected, found, limit=5):
    """'' if ``found`` loads strictly where ``expected`` (the network's) is, else its first missing, unexpected and
    misshapen keys; both map keys to tensors or shapes."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [f'{k} {shape_of(found[k])} where the network has {shape_of(expected[k])}' for k in expected
             if k in found and shape_of(found[k]) != shape_of(expected[k])]
    return '; '.join(f'{title}: {first_keys(keys, limit)}' for title, keys in (
        ('missing', missing), ('unexpected', unexpected), ('shape mismatch', wrong)) if keys)


def check_fits(expected, state_dict, path, what='path.pretrain_network_g', network_key='network_g',
               network_type='RNAN'):
    """Raise an InputError when ``state_dict`` cannot be loaded strictly where ``expected`` is, saying the first of:
    the file is in the authors' layout; both are RNANs of other settings (which); the keys that do not fit."""
    mismatch = describe_mismatch(expected, state_dict)
    if not mismatch:
        return
    if 'head.0.weight' not in expected:
        refuse_authors_layout(state_dict, what, path)
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
    task, upscale = get_task(task_key), config['upscale']
    channels = (config['num_in_ch'], config['num_out_ch'])
    if channels != (task.channels, task.channels):
        fits = [key for key, other in sorted(TASKS.items())
                if (other.channels, other.channels) == channels and (other.level is SCALE) == (upscale > 1)]
        hint = f' It fits --task {" / ".join(fits)}.' if fits else ''
        raise InputError(f'{named(what, path)} is an RNAN with {describe_config(config)}, but --task {task_key} '
                         f'({task.title}) needs {task.channels} input and output channel(s).{hint}')
    if task.level is SCALE and upscale == 1:
        raise InputError(f'{named(what, path)} is a restoration model (upscale=1), not super-resolution; use '
                         '--task dn_rgb or demosaic with it.')
    if task.level is not SCALE and upscale > 1:
        raise InputError(f'{named(what, path)} is a x{upscale} super-resolution model; use --task sr.')
    if scale is not None and scale != upscale:
        raise InputError(f'--scale {scale} does not match {named(what, path)}, a x{upscale} model; use '
                         f'--scale {upscale} or a x{scale} checkpoint.')


def full_settings(network_opt):
    """The :data:`SETTING_KEYS` of ``network_opt``, RNAN's defaults for those it leaves out, ``rgb_mean`` only for
    super-resolution: saved with the weights so that no later reader has to assume them."""
    defaults = {k: p.default for k, p in inspect.signature(RNAN).parameters.items()}
    settings = {key: network_opt.get(key, defaults[key]) for key in SETTING_KEYS}
    if network_opt.get('upscale', defaults['upscale']) == 1:
        del settings['rgb_mean']
    return settings


def _contradicted(saved, given):
    """The first of :data:`SETTING_KEYS` that ``given`` states otherwise than ``saved`` (a JSON list, as saved in
    ``.safetensors`` metadata, matching a tuple), or None."""
    normal = (lambda v: tuple(v) if isinstance(v, (list, tuple)) else v)
    return next((k for k in SETTING_KEYS if k in saved and k in given and normal(saved[k]) != normal(given[k])), None)


def network_settings(checkpoint, given, path, what='--model_path'):
    """The network arguments to build from ``checkpoint`` (as :func:`~.checkpoint.load_checkpoint` returns it): its
    saved ``network_g`` settings win, ``given`` (flags; None is "not given") fills the gaps, and a given
    :data:`SETTING_KEYS` value that contradicts a saved one is refused (it would give other outputs, no error).

    Returns:
        tuple[dict, dict]: the arguments, and per key of :data:`SETTING_KEYS` ``'saved'``, ``'given'`` or
        ``'default'``.
    """
    saved = {k: v for k, v in (checkpoint.get(NETWORK_KEY) or {}).items() if k != 'type'}
    given = {k: v for k, v in given.items() if v is not None}
    key = _contradicted(saved, given)
    if key is not None:
        raise InputError(f'--{key} {given[key]} contradicts {what} {path!r}, whose saved network_g has {key}: '
                         f'{saved[key]} (the setting it was trained with). Drop --{key}: a file\'s saved '
                         'settings are used.')
    sources = {key: 'saved' if key in saved else 'given' if key in given else 'default' for key in SETTING_KEYS}
    # other keys (e.g. nl_impl, the same results computed another way) follow the user
    return {**saved, **given, **{k: saved[k] for k in SETTING_KEYS if k in saved}}, sources


def check_saved_settings(checkpoint, network_opt, path, what='path.pretrain_network_g', network_key='network_g'):
    """The saved settings (:data:`SETTING_KEYS`) of ``checkpoint`` that ``network_opt`` (an option file's
    ``network_<x>``) leaves out, to build the network with; ``{}`` for other architectures and files without them.
    A setting ``network_opt`` states otherwise is refused, naming both values."""
    saved = checkpoint.get(NETWORK_KEY) or {}
    if not saved or network_opt.get('type') != 'RNAN' or saved.get('type', 'RNAN') != 'RNAN':
        return {}
    key = _contradicted(saved, network_opt)
    if key is not None:
        raise InputError(f'{what} {path!r} was saved with {network_key}.{key}: {saved[key]}, but {network_key} '
                         f'has {key}: {network_opt[key]}; the same weights would give other outputs. Set '
                         f'{network_key}.{key}: {saved[key]}, or leave it out to use the saved value.')
    return {key: saved[key] for key in SETTING_KEYS if key in saved and key not in network_opt}


def describe_softmax(config, source):
    """Words for the run line: which softmax the non-local blocks use and why (``source`` as
    :func:`network_settings` gives it)."""
    softmax = full_settings(config)['nl_softmax']
    why = {'saved': 'saved in the file', 'given': 'as --nl_softmax asks',
           'default': 'assumed: the file saves no network settings; --nl_softmax key for a model trained with the '
                      "paper's formula"}[source]
    return f'nl_softmax={softmax} ({why})'


def load_rnan(path, what='--model_path', task=None, scale=None, sources=None, **network_opt):
    """``(net, config)``: the RNAN that ``path`` holds, whatever its format, on the CPU in eval mode, checked against
    ``task`` and ``scale``. Its configuration is read off the weights, the other settings come from
    :func:`network_settings` (``network_opt``: flags); ``sources``, if given, is filled with where each came from.
    Raises an InputError for every way the file cannot be that network."""
    checkpoint = load_checkpoint(path, what)
    state_dict, _ = find_params(checkpoint, path, what)
    state_dict, config = to_our_layout(state_dict, what, path)
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
