"""Value rules of the ``train`` and ``logger`` sections (beside the schema, run by the pre-flight): everything
``train_pipeline`` reads mid-run.

A wrong value here used to surface hours (or 200,000 iterations) into a run: ``gamma: abc`` at the first milestone,
``lr: -1`` as a negative learning rate, a missing key as a bare ``KeyError``. Each check names the key and a value that
works. Optimizers and schedulers are also built once on a dummy parameter, exactly as the model will build them, so
the installed BasicSR and torch judge what they support (nothing is hard-coded but the ranges below).
"""
from rnan_basicsr.options.rules import periods_cover_total_iter, warmup_before_total_iter
from rnan_basicsr.options.yaml_rules import number_hint
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean, is_int, is_number


def _check_number(options, key, where, low=None, high=None, low_open=False, high_open=False, example=''):
    """``options[key]`` (if present) must be a number in the given interval."""
    if key not in options:
        return
    value = options[key]
    ok = is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        interval = ''
        if low is not None and high is None:
            interval = f' {">" if low_open else ">="} {low}'
        elif low is not None:
            interval = f' in {"(" if low_open else "["}{low}, {high}{")" if high_open else "]"}'
        raise InputError(f'{where}.{key} must be a number{interval}, got {value!r}{number_hint(value)}; e.g. '
                         f'{key}: {example}.')


def _check_positive_int(options, key, where, example, minimum=1):
    value = options.get(key)
    if not is_int(value) or value < minimum:
        kind = 'a positive integer' if minimum == 1 else f'an integer >= {minimum}'
        raise InputError(f'{where}.{key} must be {kind}, got {value!r}; e.g. {key}: {example}.')


def _check_int_list(options, key, where, example, increasing=True, minimum=1):
    """``options[key]`` must be a non-empty list of integers >= minimum, strictly increasing if asked."""
    value = options.get(key)
    good = isinstance(value, (list, tuple)) and value and all(is_int(v) and v >= minimum for v in value)
    if good and increasing:
        good = all(a < b for a, b in zip(value, value[1:]))
    if not good:
        order = ', strictly increasing' if increasing else ''
        raise InputError(f'{where}.{key} must be a list of integers >= {minimum}{order}, got {value!r}; e.g. '
                         f'{key}: {example}.')
    return list(value)


def _probe_parameter():
    import torch
    return torch.nn.Parameter(torch.zeros(1))


def check_optimizer(model_cls, options, where):
    """Check ``train.optim_<x>`` and build it once on a dummy parameter, as ``model_cls.get_optimizer`` will.

    Returns:
        torch.optim.Optimizer: the probe optimizer (for building the scheduler the same way).
    """
    if not isinstance(options, dict):
        raise InputError(f'{where} must be a mapping with a type and lr, e.g. {{type: Adam, lr: !!float 1e-4}}.')
    optim_type = options.get('type')
    if not isinstance(optim_type, str) or not optim_type:
        raise InputError(f'{where}.type must name an optimizer (a string), got {optim_type!r}; e.g. type: Adam.')
    if 'lr' not in options:
        raise InputError(f'{where}.lr is missing; add the learning rate, e.g. lr: !!float 1e-4.')
    _check_number(options, 'lr', where, low=0, low_open=True, example='!!float 1e-4')
    _check_number(options, 'eps', where, low=0, low_open=True, example='!!float 1e-8')
    _check_number(options, 'weight_decay', where, low=0, example='0')
    _check_number(options, 'momentum', where, low=0, example='0.9')
    betas = options.get('betas')
    if 'betas' in options and not (isinstance(betas, (list, tuple)) and len(betas) == 2
                                   and all(is_number(b) and 0 <= b < 1 for b in betas)):
        raise InputError(f'{where}.betas must be two numbers in [0, 1), got {betas!r}; e.g. betas: [0.9, 0.999].')

    kwargs = {key: value for key, value in options.items() if key != 'type'}
    try:
        return _build_optimizer(model_cls, optim_type, kwargs)
    except InputError as error:
        raise InputError(f'{where}.type: {error}') from None
    except NotImplementedError as error:
        raise InputError(f'{where}.type {optim_type!r} is not supported by {model_cls.__name__}: {error} Use an '
                         'optimizer it builds (BasicSR 1.4.2 builds Adam only; RNANModel also builds torch.optim\'s, '
                         'e.g. AdamW or SGD).') from None
    except (TypeError, ValueError) as error:
        raise InputError(f'{where}: {optim_type} refuses these options: {error}. Fix or remove the option.') from None


def _build_optimizer(model_cls, optim_type, kwargs):
    """Ask the model how it builds ``optim_type``: its ``optimizer_class`` when it has one, else ``get_optimizer``."""
    optimizer_class = getattr(model_cls, 'optimizer_class', None)
    params = [_probe_parameter()]
    if callable(optimizer_class):
        return optimizer_class(optim_type)(params, **kwargs)
    # BaseModel.get_optimizer does not use self: call it on an instance that was never initialised
    return model_cls.get_optimizer(object.__new__(model_cls), optim_type, params, **kwargs)


def check_scheduler(model_cls, options, optimizer, total_iter, where='train.scheduler'):
    """Check ``train.scheduler`` and build it once on the probe optimizer, as ``setup_schedulers`` will."""
    from basicsr.models import lr_scheduler
    from basicsr.models.base_model import BaseModel

    if options is None:
        return
    if not isinstance(options, dict):
        raise InputError(f'{where} must be a mapping with a type, e.g. {{type: MultiStepLR, milestones: [200000], '
                         'gamma: 0.5}.')
    if getattr(model_cls, 'setup_schedulers', None) is not BaseModel.setup_schedulers:
        return  # the model builds its own schedulers
    schedulers = {'MultiStepLR': lr_scheduler.MultiStepRestartLR, 'MultiStepRestartLR': lr_scheduler.MultiStepRestartLR,
                  'CosineAnnealingRestartLR': lr_scheduler.CosineAnnealingRestartLR}
    kind = options.get('type')
    if kind not in schedulers:
        raise InputError(f'{where}.type {kind!r} is not one of {", ".join(schedulers)} (BaseModel.setup_schedulers).'
                         f'{did_you_mean(kind, schedulers)}')
    cls = schedulers[kind]  # its keys are declared by its signature (rnan_basicsr.options.registered)
    if cls is lr_scheduler.MultiStepRestartLR:
        _check_int_list(options, 'milestones', where, '[200000, 400000]')
        _check_number(options, 'gamma', where, low=0, high=1, low_open=True, example='0.5')
        restarts = options.get('restarts', [0])
        if 'restarts' in options:
            restarts = _check_int_list(options, 'restarts', where, '[0]', minimum=0)
        weights_owner = restarts
    else:
        periods = _check_int_list(options, 'periods', where, '[250000, 250000]', increasing=False)
        periods_cover_total_iter(periods, total_iter, where)
        _check_number(options, 'eta_min', where, low=0, example='!!float 1e-7')
        weights_owner = periods
    weights = options.get('restart_weights', [1])
    if not (isinstance(weights, (list, tuple)) and len(weights) == len(weights_owner)
            and all(is_number(w) and w > 0 for w in weights)):
        owner = 'restarts' if cls is lr_scheduler.MultiStepRestartLR else 'periods'
        raise InputError(f'{where}.restart_weights must be {len(weights_owner)} positive number(s), one per entry '
                         f'of {owner}, got {weights!r}.')
    try:
        cls(optimizer, **{key: value for key, value in options.items() if key != 'type'})
    except (TypeError, ValueError, AssertionError) as error:
        raise InputError(f'{where}: {kind} refuses these options: {error or type(error).__name__}.') from None


def check_losses(train, where='train'):
    """``loss_weight`` >= 0 and ``reduction`` of every ``*_opt`` loss (types and keys are checked by the caller)."""
    for key, options in train.items():
        if key.endswith('_opt') and isinstance(options, dict):
            _check_number(options, 'loss_weight', f'{where}.{key}', low=0, example='1.0')
            if 'reduction' in options and options['reduction'] not in ('none', 'mean', 'sum'):
                raise InputError(f'{where}.{key}.reduction must be none, mean or sum, got {options["reduction"]!r}.')


def check_training(opt, model_cls):
    """Every key of ``train``, ``logger`` and ``val`` that ``train_pipeline`` and the model read while training."""
    train, logger = opt['train'], opt['logger']
    _check_positive_int(train, 'total_iter', 'train', '300000')
    _check_positive_int(logger, 'print_freq', 'logger', '100')
    _check_positive_int(logger, 'save_checkpoint_freq', 'logger', '5000')
    if not isinstance(logger.get('use_tb_logger'), bool):
        raise InputError(f'logger.use_tb_logger must be true or false, got {logger.get("use_tb_logger")!r}.')
    warmup_before_total_iter(train)
    _check_number(train, 'ema_decay', 'train', low=0, high=1, high_open=True, example='0.999')
    val = opt.get('val')
    if val is not None:
        if not isinstance(val, dict):
            raise InputError(f'val must be a mapping (val_freq, save_img, metrics), got {val!r}.')
        if not is_int(val.get('val_freq')) or val['val_freq'] < 1:
            raise InputError(f'val.val_freq must be a positive integer (validate every that many iterations), got '
                             f'{val.get("val_freq")!r}; remove the val section to train without validation.')
    check_losses(train)

    optimizers = [key for key in train if key.startswith('optim_')]
    if not optimizers:
        raise InputError('train.optim_g is missing; add e.g. optim_g: {type: Adam, lr: !!float 1e-4, betas: [0.9, '
                         '0.999]}.')
    probe = None
    for key in optimizers:
        optimizer = check_optimizer(model_cls, train[key], f'train.{key}')
        probe = probe or optimizer
    check_scheduler(model_cls, train.get('scheduler'), probe, train['total_iter'])
