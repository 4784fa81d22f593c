"""The resume policy: what a resumed run does when the option file and the training state disagree.

BasicSR's ``resume_training`` loads the state's optimizer and scheduler dicts over the ones built from the option file,
so the state's schedule silently won: new milestones were ignored, and a cosine schedule made longer crashed at its
first new iteration. Here the option file wins wherever that is exact:

* **Schedule** (``train.scheduler``): its values (milestones, gamma, restarts, periods, restart_weights, eta_min) are
  applied to the restored scheduler at the state's position; the position itself (iteration, base learning rates,
  current learning rate) stays the state's. ``RNANModel.resume_training`` does this and logs one line naming what
  changed (old → new).
* **Refused** in one line before anything is written (:func:`check_resume_options`, called where the state is loaded,
  before ``train_pipeline`` creates or writes anything): another scheduler type; a MultiStep change that alters the
  learning rate of an iteration already trained (its learning rate is carried from step to step, so the run would not
  be the one the option file describes); a cosine restart moved, added or removed before the state's iteration; an
  optimizer of another type or with other settings (``lr``, ``betas``... were used by every iteration so far); a
  model type that restores the state's schedule (BasicSR's ``SRModel``), since the change would be silently ignored.

A cosine cycle has no such carried value: its learning rate is a function of the iteration, so changing the current
cycle (``periods=[6]`` → ``[12]``, its weight, ``eta_min``) continues on the new curve from the state's iteration.

This is the plugin's decision, not a BasicSR 1.4.2 adapter, so it lives beside the model that applies it rather than
in :mod:`rnan_basicsr.compat` (whose :mod:`~rnan_basicsr.compat.resume` only finds and loads states safely).
"""
import inspect
import math
import torch
from collections import Counter

from rnan_basicsr.utils.errors import InputError

# torch's LRScheduler keeps the position in these attributes; every other entry of a scheduler's state dict is the
# schedule (the class's arguments and what it derives from them, e.g. CosineAnnealingRestartLR.cumulative_period)
POSITION_KEYS = ('base_lrs', 'last_epoch', '_step_count', '_is_initial', '_get_lr_called_within_step', '_last_lr',
                 'verbose')
# settings torch adds to an optimizer's param groups over releases; a state saved before they existed lacks them
_RELEASE_FLAGS = (None, False)


def schedule_of(state_dict):
    """The schedule part of a scheduler's ``state_dict()`` (everything but :data:`POSITION_KEYS`)."""
    return {key: value for key, value in state_dict.items() if key not in POSITION_KEYS}


def _option_names(cls):
    """The option keys of scheduler class ``cls`` (``train.scheduler`` without ``type``), from its signature."""
    return [name for name in inspect.signature(cls).parameters if name not in ('optimizer', 'last_epoch')]


def _shown(value):
    """An option value as the option file writes it: a milestone Counter as its sorted list, tuples as lists."""
    if isinstance(value, Counter):
        return sorted(value.elements())
    if isinstance(value, (list, tuple)):
        return [_shown(item) for item in value]
    return value


def describe_changes(cls, saved, wanted):
    """``['milestones [4] → [6]', ...]``: the options of ``cls`` whose value in ``saved`` (the training state's
    scheduler state dict) differs from ``wanted`` (the option file's); [] when they agree."""
    changes = []
    for name in _option_names(cls):
        old, new = _shown(saved.get(name)), _shown(wanted.get(name))
        if old != new:
            changes.append(f'{name} {old} → {new}')
    return changes


def _multistep_factor(schedule, epoch):
    """Learning rate / initial lr of BasicSR's MultiStepRestartLR at scheduler step ``epoch`` (closed form).

    ``get_lr`` restarts at ``initial_lr * weight`` and multiplies by ``gamma ** count`` at each milestone after the
    last restart; in between the rate is carried unchanged.
    """
    restarts = list(schedule['restarts'])
    passed = [r for r in restarts if r <= epoch]
    start, weight = (max(passed), schedule['restart_weights'][restarts.index(max(passed))]) if passed else (-1, 1)
    count = sum(n for milestone, n in Counter(schedule['milestones']).items() if start < milestone <= epoch)
    return weight * schedule['gamma']**count


def _cosine_restarts(schedule):
    """The scheduler steps after which CosineAnnealingRestartLR starts a new cycle (cumulative periods but the last)."""
    periods = list(schedule['periods'])
    return [sum(periods[:i + 1]) for i in range(len(periods) - 1)]


def _why_inexact(cls, saved, wanted, iteration):
    """Why the option file's schedule ``wanted`` cannot continue training state ``saved`` exactly, or None.

    ``iteration`` is the state's; scheduler step ``e`` sets the learning rate of iteration ``e + 1``.
    """
    from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR

    last = saved['last_epoch']  # the step of the state's iteration
    if cls is MultiStepRestartLR:
        steps = {0} | {e for s in (saved, wanted) for e in (*Counter(s['milestones']), *s['restarts']) if e <= last}
        for step in sorted(steps):
            old, new = _multistep_factor(saved, step), _multistep_factor(wanted, step)
            if not math.isclose(old, new, rel_tol=1e-12):
                return (f'iteration {step + 1} was trained at {old:g} x the initial lr and the new schedule gives it '
                        f'{new:g} x (a resumed run carries the learning rate on from the state). Only milestones and '
                        f'restarts from {iteration} on (they act after iteration {iteration}) may change')
        return None
    if cls is CosineAnnealingRestartLR:
        old = [step + 2 for step in _cosine_restarts(saved) if step < last]  # step e sets iteration e + 1's lr
        new = [step + 2 for step in _cosine_restarts(wanted) if step < last]
        if old != new:
            def restarts(steps):
                return f'restarts at iterations {steps}' if steps else 'no restart'

            return (f'up to iteration {iteration} the state\'s periods had {restarts(old)}, the new periods have '
                    f'{restarts(new)}. Keep the periods of the cycles before iteration {iteration}; the current and '
                    'later ones may change')
        return None
    if schedule_of(saved) != schedule_of(wanted):
        return f'{cls.__name__} is not one this policy knows how to continue'
    return None


#: the ways on from a refused change, ending each message
HOW_TO_GO_ON = ('restore the values the state was saved with, or start a new run from its weights '
                '(path.pretrain_network_g) under a new name.')


def check_scheduler_change(cls, saved, wanted, iteration, state_path):
    """The changes from the state's scheduler ``saved`` to the option file's ``wanted`` (both state dicts of ``cls``).

    Returns:
        list[str]: what changes (:func:`describe_changes`); [] when nothing does.

    Raises:
        InputError: the saved state is another scheduler type, or the change alters what was already trained.
    """
    if set(saved) - set(POSITION_KEYS) != set(wanted) - set(POSITION_KEYS):
        raise InputError(f'train.scheduler builds a {cls.__name__}, but training state {state_path!r} was saved with '
                         f'another scheduler (its settings: {", ".join(sorted(schedule_of(saved)))}); a resumed run '
                         f'cannot switch schedulers. To continue it, {HOW_TO_GO_ON}')
    changes = describe_changes(cls, saved, wanted)
    if changes:
        why = _why_inexact(cls, saved, wanted, iteration)
        if why:
            raise InputError(f'train.scheduler cannot change from training state {state_path!r} (iteration '
                             f'{iteration}) as asked ({"; ".join(changes)}): {why}. Or {HOW_TO_GO_ON}')
    return changes


def _settings(group):
    return {key: _shown(value) for key, value in group.items() if key not in ('params', 'lr', 'initial_lr')}


def check_optimizer_change(key, saved, optimizer, state_path):
    """Refuse an optimizer whose type or settings differ from those of the training state's ``saved`` state dict.

    ``optimizer`` is the option file's ``train.<key>`` built on one probe parameter that has taken one step (so that
    its per-parameter state shows what the type keeps: Adam ``exp_avg``..., SGD ``momentum_buffer``). The initial
    learning rate is compared with the state's ``initial_lr`` (its ``lr`` is the scheduled one).

    Raises:
        InputError: naming the settings (old → new) and the way on.
    """
    kind = type(optimizer).__name__
    new_group, saved_groups = optimizer.param_groups[0], saved.get('param_groups', [])
    new_state = next(iter(optimizer.state.values()), {})
    saved_state = next(iter(saved.get('state', {}).values()), None)
    for group in saved_groups:
        old, new = _settings(group), _settings(new_group)
        missing = [name for name in new if name not in old and new[name] not in _RELEASE_FLAGS]
        if set(old) - set(new) or missing or (saved_state is not None and set(saved_state) != set(new_state)):
            raise InputError(f'train.{key} is {kind}, but training state {state_path!r} holds another optimizer '
                             f'(settings {", ".join(sorted(old))}; per-parameter state '
                             f'{", ".join(sorted(saved_state or {})) or "none"}): a resumed run cannot switch '
                             f'optimizers. To continue it, {HOW_TO_GO_ON}')
        changes = [f'{name} {old[name]} → {new[name]}' for name in new if name in old and old[name] != new[name]]
        saved_lr = group.get('initial_lr', group.get('lr'))
        if not math.isclose(saved_lr, new_group['initial_lr'], rel_tol=1e-12):
            changes.insert(0, f'lr {saved_lr:g} → {new_group["initial_lr"]:g}')
        if changes:
            raise InputError(f'train.{key} cannot change from training state {state_path!r} ({"; ".join(changes)}): '
                             'every iteration so far was trained with the saved settings, so the resumed run would '
                             f'not be the one the option file describes. To continue it, {HOW_TO_GO_ON}')


def _probe_model(model_cls, train):
    """An uninitialised ``model_cls`` with just what ``get_optimizer`` / ``setup_schedulers`` read."""
    probe = object.__new__(model_cls)
    probe.opt = {'train': train}
    probe.optimizers, probe.schedulers = [], []
    return probe


def option_optimizer(model_cls, options):
    """``train.optim_g`` built as ``model_cls`` builds it, on one probe parameter that has taken one step."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    kwargs = {key: value for key, value in options.items() if key != 'type'}
    optimizer = model_cls.get_optimizer(_probe_model(model_cls, {}), options['type'], [parameter], **kwargs)
    parameter.grad = torch.ones(1)
    optimizer.step()
    for group in optimizer.param_groups:  # as the schedulers set it on the model's optimizer
        group.setdefault('initial_lr', group['lr'])
    return optimizer


def option_schedulers(model_cls, scheduler_options, optimizers):
    """The state dicts of ``train.scheduler`` as ``model_cls.setup_schedulers`` builds it on ``optimizers``."""
    import copy

    probe = _probe_model(model_cls, {'scheduler': copy.deepcopy(scheduler_options)})
    probe.optimizers = optimizers
    model_cls.setup_schedulers(probe)
    return probe.schedulers


def applies_option_schedule(model_cls):
    """Whether ``model_cls.resume_training`` applies the option file's schedule (RNANModel and its subclasses)."""
    from rnan_basicsr.models.rnan_model import RNANModel

    return issubclass(model_cls, RNANModel)


def check_resume_options(opt, state, state_path):
    """The pre-flight of a resume: refuse what the option file changes and cannot be applied exactly.

    Called with the training state chosen by ``--auto_resume`` / ``path.resume_state``, before anything is created or
    written. Models with one optimizer ``train.optim_g`` (SRModel, RNANModel) are checked; others are left to
    BasicSR.

    Raises:
        InputError: one line naming the state, the option, old → new, and the way on.
    """
    from basicsr.utils.registry import MODEL_REGISTRY

    train = opt.get('train') or {}
    optimizer_keys = [key for key in train if key.startswith('optim_')]
    if optimizer_keys != ['optim_g'] or len(state['optimizers']) != 1 or not train.get('scheduler'):
        return
    model_cls = MODEL_REGISTRY.get(opt['model_type'])
    optimizer = option_optimizer(model_cls, train['optim_g'])
    check_optimizer_change('optim_g', state['optimizers'][0], optimizer, state_path)
    schedulers = option_schedulers(model_cls, train['scheduler'], [optimizer])
    if len(schedulers) != len(state['schedulers']):
        return  # check_optimizers_fit names this mismatch when the model loads the state
    for scheduler, saved in zip(schedulers, state['schedulers']):
        changes = check_scheduler_change(type(scheduler), saved, scheduler.state_dict(), state['iter'], state_path)
        if changes and not applies_option_schedule(model_cls):
            raise InputError(f'train.scheduler differs from training state {state_path!r} ({"; ".join(changes)}), '
                             f'but model_type {opt["model_type"]} resumes with the state\'s schedule (BasicSR\'s '
                             'resume_training), so the change would be ignored. Use model_type: RNANModel to resume '
                             'with the option file\'s schedule, or restore the values.')


def keep_option_schedules(schedulers, option_states, resume_state, state_path, logger=None):
    """After BasicSR's ``resume_training``: put the option file's schedule back into each restored scheduler.

    Args:
        schedulers (list): The model's schedulers, holding the state's schedule and position.
        option_states (list[dict]): Their ``state_dict()`` taken before the state was loaded (the option file's).
        resume_state (dict): The training state (``iter``, ``schedulers``...).
        state_path (str | None): Its file, for messages.
        logger: Gets one ``info`` line naming what changed, when something did.

    Raises:
        InputError: the change cannot be applied exactly (:func:`check_resume_options` refuses it earlier).
    """
    for scheduler, wanted, saved in zip(schedulers, option_states, resume_state['schedulers']):
        changes = check_scheduler_change(type(scheduler), saved, wanted, resume_state['iter'], state_path)
        if changes:
            scheduler.__dict__.update(schedule_of(wanted))
            if logger is not None:
                logger.info(f'Resuming at iteration {resume_state["iter"]} with the option file\'s train.scheduler '
                            f'({type(scheduler).__name__}), not the training state\'s: {"; ".join(changes)}; '
                            f'iteration {resume_state["iter"] + 1} trains at lr {_next_lr(scheduler):.4g}.')


def _next_lr(scheduler):
    """The learning rate the next ``scheduler.step()`` sets in the first param group (without stepping)."""
    scheduler.last_epoch += 1
    try:
        return scheduler.get_lr()[0]
    finally:
        scheduler.last_epoch -= 1
