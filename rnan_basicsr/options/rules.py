"""Cross-field rules of the option file (what no single key's declaration in :mod:`.schema` can say), one function
each, raising an InputError that names the keys and a value that works."""
import inspect

from rnan_basicsr.tasks import RESTORATION_DATASETS
from rnan_basicsr.utils.errors import InputError


def argument_or_default(options, cls, name):
    """``options[name]``, else the default of ``cls``'s parameter ``name``; None if ``cls`` has no such parameter."""
    if name in options:
        return options[name]
    try:
        parameter = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def dataset_channels(dataset, cls=None):
    """``(channels, why)`` of the LQ/GT images a dataset gives, or None when unknown before reading them: from the
    class's ``num_channels(opt)`` (and ``channels_reason(opt)``) classmethods, else BasicSR's PairedImageDataset's
    rule. ``cls`` defaults to the registered class of ``dataset['type']``."""
    kind = dataset.get('type')
    if cls is None:
        from basicsr.utils.registry import DATASET_REGISTRY

        cls = DATASET_REGISTRY.get(kind) if kind in DATASET_REGISTRY else None
    counter = getattr(cls, 'num_channels', None)
    if callable(counter):
        reason = getattr(cls, 'channels_reason', None)
        return counter(dataset), reason(dataset) if callable(reason) else f'{kind}.num_channels'
    if kind == 'PairedImageDataset':
        return (1, 'PairedImageDataset with color: y') if dataset.get('color') == 'y' else (
            3, 'PairedImageDataset decodes images as colour; color: y would give the Y channel')
    return None


def scale_given_for_paired_data(opt, datasets):
    """BasicSR's PairedImageDataset reads ``scale``, which only the top level sets."""
    if 'scale' not in opt and any(d.get('type') == 'PairedImageDataset' for d in datasets.values()):
        raise InputError('scale is missing; PairedImageDataset needs it (1 when LQ and GT have the same size, else the '
                         'super-resolution factor): add scale: 1 (or 2, 3, 4).', key=('scale', ))


def upscale_matches_scale(network, cls, scale):
    """``network_g.upscale`` (or its default) is the factor between LQ and GT, ``scale``."""
    upscale = argument_or_default(network, cls, 'upscale')
    if upscale is not None and upscale != scale:
        raise InputError(f'network_g.upscale is {upscale!r} but scale is {scale!r}: the network must enlarge its input '
                         'by the factor between LQ and GT images. Set both to the same value (1 for denoising, '
                         'demosaicing and JPEG; 2, 3 or 4 for super-resolution).', key=('network_g', 'upscale'))


def channels_match_dataset(network, cls, label, found):
    """``network_g.num_in_ch`` / ``num_out_ch`` (or their defaults) are the dataset's channels ``found``, a
    ``(channels, why)`` of :func:`dataset_channels`."""
    channels, why = found
    for key in ('num_in_ch', 'num_out_ch'):
        value = argument_or_default(network, cls, key)
        if value is not None and value != channels:
            raise InputError(f'network_g.{key} is {value!r} but {label} gives {channels}-channel images ({why}). Set '
                             f'network_g.num_in_ch: {channels} and num_out_ch: {channels}, or change the dataset.',
                             key=('network_g', key))


def restoration_data_at_scale_1(kind, label, scale):
    """Our restoration datasets give LQ and GT of the same size."""
    if kind in RESTORATION_DATASETS and scale != 1:
        raise InputError(f'{label} is a {kind}, whose LQ and GT images have the same size, but scale is {scale!r}. Set '
                         'scale: 1 (and network_g.upscale: 1); super-resolution data goes through PairedImageDataset.')


def gt_size_fits_scale(gt_size, scale, label):
    """Training patches: ``gt_size`` a multiple of ``scale`` (LQ patches are gt_size / scale)."""
    if gt_size is not None and gt_size % scale:
        lower, upper = gt_size - gt_size % scale, gt_size - gt_size % scale + scale
        raise InputError(f'{label}: gt_size {gt_size} is not a multiple of scale {scale} (LQ patches are gt_size / '
                         f'scale pixels). Use gt_size: {lower or upper} or {upper}.', key=('gt_size', ))


#: keys a training dataset must give (the schema cannot know the phase): BasicSR's data loader reads the first two
#: of every training dataset, PairedImageDataset the others with ``opt[...]``; ours need gt_size
TRAINING_KEYS = {'': {'batch_size_per_gpu': 16, 'num_worker_per_gpu': 4, 'gt_size': 48},
                 'PairedImageDataset': {'use_hflip': 'true', 'use_rot': 'true'}}


def training_keys_given(dataset, label):
    """The keys of :data:`TRAINING_KEYS` are given in a training dataset (our ``gt_size`` and BasicSR's)."""
    needed = dict(TRAINING_KEYS[''], **TRAINING_KEYS.get(dataset.get('type'), {}))
    for key, example in needed.items():
        if dataset.get(key) is None:
            raise InputError(f'{label}: training needs {key}; add {key}: {example}', key=(key, ))


def warmup_before_total_iter(train):
    """``train.warmup_iter`` is -1 (none) or ends before ``total_iter``."""
    warmup = train.get('warmup_iter', -1)
    if warmup >= train['total_iter']:
        raise InputError(f'train.warmup_iter must be -1 (no warm-up) or an integer in [0, total_iter) = [0, '
                         f'{train["total_iter"]}), got {warmup!r}.', key=('warmup_iter', ))


def periods_cover_total_iter(periods, total_iter, where='train.scheduler'):
    """A cosine schedule's ``periods`` reach ``total_iter`` (after them it has no learning rate)."""
    if sum(periods) < total_iter:
        raise InputError(f'{where}.periods {periods} add up to {sum(periods)}, fewer than train.total_iter '
                         f'{total_iter}: the schedule has no learning rate after iteration {sum(periods)}. Make the '
                         'periods cover total_iter.', key=('periods', ))


def milestones_increase(milestones, where='train.scheduler'):
    """A step schedule's ``milestones`` are strictly increasing: BasicSR would take them in any order (and a repeated
    one as a double step), so a list out of order is almost always a typo."""
    if any(a >= b for a, b in zip(milestones, milestones[1:])):
        raise InputError(f'{where}.milestones must be strictly increasing, got {milestones}; e.g. milestones: '
                         f'{sorted(set(milestones))}.', key=('milestones', ))
