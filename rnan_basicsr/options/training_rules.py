"""Rules of the ``train`` section beyond the declared options, run by the pre-flight: the optimizer and the scheduler
are built once on a dummy parameter exactly as the model will build them, so the installed BasicSR and torch judge."""
import copy

from rnan_basicsr.options.registered import SCHEDULERS, options_model
from rnan_basicsr.options.rules import milestones_increase, periods_cover_total_iter, warmup_before_total_iter
from rnan_basicsr.utils.errors import InputError, within
from rnan_basicsr.utils.validation import did_you_mean


def probe_model(model_cls, train):
    """An uninitialised ``model_cls`` with just what ``get_optimizer`` / ``setup_schedulers`` read."""
    probe = object.__new__(model_cls)
    probe.opt = {'train': train}
    probe.optimizers, probe.schedulers = [], []
    return probe


def build_optimizer(model_cls, options, params):
    """``train.optim_g`` built on ``params`` as ``model_cls.get_optimizer`` builds it."""
    kwargs = {key: value for key, value in options.items() if key != 'type'}
    return model_cls.get_optimizer(probe_model(model_cls, {}), options['type'], params, **kwargs)


def build_schedulers(model_cls, options, optimizers):
    """``train.scheduler`` built on ``optimizers`` as ``model_cls.setup_schedulers`` builds it."""
    probe = probe_model(model_cls, {'scheduler': copy.deepcopy(options)})
    probe.optimizers = optimizers
    model_cls.setup_schedulers(probe)
    return probe.schedulers


def check_optimizer(model_cls, options, where='train.optim_g'):
    """Build ``train.optim_g`` once on a dummy parameter, as ``model_cls`` will, and return it (for the scheduler)."""
    import torch

    try:
        return build_optimizer(model_cls, options, [torch.nn.Parameter(torch.zeros(1))])
    except InputError:  # RNANModel.optimizer_class names the key itself
        raise
    except NotImplementedError as error:
        raise InputError(f'{where}.type {options["type"]!r} is not supported by {model_cls.__name__}: {error} Use an '
                         'optimizer it builds (BasicSR 1.4.2 builds Adam only; RNANModel also builds torch.optim\'s, '
                         'e.g. AdamW or SGD).', key=('type', )) from None
    except (TypeError, ValueError) as error:
        raise InputError(f'{where}: {options["type"]} refuses these options: {error}. Fix or remove the option.'
                         ) from None


def check_scheduler(model_cls, options, optimizer, total_iter, where='train.scheduler'):
    """Check ``train.scheduler`` against ``total_iter`` and build it once on the probe optimizer, as
    ``BaseModel.setup_schedulers`` will (a model that builds its own schedulers is left to itself)."""
    from basicsr.models.base_model import BaseModel

    if options is None or getattr(model_cls, 'setup_schedulers', None) is not BaseModel.setup_schedulers:
        return
    kind = options.get('type')
    if options_model('scheduler', kind) is None:
        raise InputError(f'{where}.type {kind!r} is not one of {", ".join(SCHEDULERS)} (BaseModel.setup_schedulers).'
                         f'{did_you_mean(kind, SCHEDULERS)}', key=('type', ))
    if 'milestones' in options:
        milestones_increase(options['milestones'], where)
    if 'periods' in options:
        periods_cover_total_iter(options['periods'], total_iter, where)
    try:
        build_schedulers(model_cls, options, [optimizer])
    except (TypeError, ValueError, AssertionError) as error:
        raise InputError(f'{where}: {kind} refuses these options: {error or type(error).__name__}.') from None


def check_training(opt, model_cls):
    """The ``train`` section as ``train_pipeline`` and the model will use it."""
    train = opt['train']
    with within('train'):
        warmup_before_total_iter(train)
    with within('train', 'optim_g'):
        probe = check_optimizer(model_cls, train['optim_g'])
    with within('train', 'scheduler'):
        check_scheduler(model_cls, train.get('scheduler'), probe, train['total_iter'])
