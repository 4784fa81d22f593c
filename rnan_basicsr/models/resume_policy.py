"""The resume policy: which training state a run resumes from (:func:`choose_resume_state`), whether the option
file's ``train.optim_g`` and ``train.scheduler`` can apply to it (:func:`check_resume_options`: both schedules stepped
on probe optimizers) and applying the schedule (:func:`keep_option_schedules`). What is kept, applied and refused:
docs/resuming.md.

Nothing here calls ``get_root_logger``: resume states are read before ``train_pipeline`` sets up its logger, and an
early call would leave the run without a log file. Warnings go to stderr, from rank 0 only.
"""
import contextlib
import copy
import inspect
import math
import os
import re
import sys
import torch
import warnings
from basicsr.utils.registry import MODEL_REGISTRY
from collections import Counter
from os import path as osp
from torch.optim.lr_scheduler import LRScheduler

from rnan_basicsr.options.training_rules import build_optimizer, build_schedulers
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.staging import process_is_running
from rnan_basicsr.weights import (describe_mismatch, expected_state_dict, load_checkpoint, looks_like_weights,
                                  select_params)

STATE_KEYS = ('epoch', 'iter', 'optimizers', 'schedulers')
# ``atomic_torch_save`` writes ``.<name>.tmp<pid>`` before renaming it to ``<name>``; a kill leaves such a file behind
TEMP_FILE = re.compile(r'^\..+\.tmp(\d+)$')
NETWORK_FILE = re.compile(r'^net_(.+?)_(\d+|latest)\.pth$')


def _warn(message, opt):
    if opt['rank'] == 0:
        print(f'rnan_basicsr: warning: {message}', file=sys.stderr, flush=True)


def _names(folder):
    return os.listdir(folder) if osp.isdir(folder) else []


def state_iteration(path):
    """The iteration of a ``<iter>.state`` file, None for any other name."""
    stem, ext = osp.splitext(osp.basename(path))
    return int(stem) if ext == '.state' and stem.isdigit() else None


def list_training_states(states_dir):
    """Paths of the ``<iter>.state`` files in ``states_dir``, newest iteration first ([] if none)."""
    paths = [osp.join(states_dir, name) for name in _names(states_dir) if state_iteration(name) is not None]
    return sorted(paths, key=state_iteration, reverse=True)


def newest_training_state(states_dir):
    """The newest ``<iter>.state`` in ``states_dir``, or None; not necessarily usable (:func:`_auto_resume_state`)."""
    return next(iter(list_training_states(states_dir)), None)


def list_network_files(models_dir):
    """``{(label, iteration): path}`` of BasicSR's ``net_<label>_<iter>.pth`` files; iteration -1 for ``latest``."""
    found = {}
    for match in filter(None, (NETWORK_FILE.match(name) for name in _names(models_dir))):
        iteration = -1 if match.group(2) == 'latest' else int(match.group(2))
        found[(match.group(1), iteration)] = osp.join(models_dir, match.group(0))
    return found


def load_training_state(path):
    """Load a training state on the CPU (``Optimizer.load_state_dict`` moves it) with ``weights_only=True``; an
    InputError when the file is missing, unreadable or corrupt, or not a training state (e.g. network weights)."""
    if not osp.isfile(path):
        raise InputError(f'resume_state {path!r} does not exist. Point path.resume_state to an '
                         'experiments/<name>/training_states/<iter>.state file, or use --auto_resume.')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        text = str(error).strip()
        reason = f'{type(error).__name__}: {text.splitlines()[0]}' if text else type(error).__name__
        raise InputError(f'cannot load training state {path!r}: {reason}. The file is truncated, '
                         'corrupt, or not a file torch.save wrote (loading refuses arbitrary Python objects); use an '
                         'earlier <iter>.state.') from None
    if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
        if looks_like_weights(state):
            raise InputError(f'{path!r} is a network weights file, not a training state. To start from these '
                             'weights set path.pretrain_network_g to it; to resume, set path.resume_state to a '
                             'training_states/<iter>.state file.')
        found = sorted(state.keys()) if isinstance(state, dict) else type(state).__name__
        raise InputError(f'{path!r} is not a BasicSR training state: expected keys {list(STATE_KEYS)}, found {found}.')
    return state


def network_files(opt, iteration):
    """``{network key: models/net_<x>_<iteration>.pth}`` that resuming at ``iteration`` loads (as ``check_resume``)."""
    ignored = opt['path'].get('ignore_resume_networks') or []
    return {
        key: osp.join(opt['path']['models'], f'net_{key[len("network_"):]}_{iteration}.pth')
        for key in opt if key.startswith('network_') and key not in ignored
    }


def remove_stale_temp_files(opt):
    """Remove (with a warning) and return the ``.<name>.tmp<pid>`` files a killed run left in models/ and
    training_states/, on rank 0; those of a process still running here are kept (two runs writing into one)."""
    if opt['rank'] != 0:
        return []
    removed = []
    for folder in (opt['path']['models'], opt['path']['training_states']):
        for name in _names(folder):
            match = TEMP_FILE.match(name)
            if match and not process_is_running(int(match.group(1))):
                path = osp.join(folder, name)
                with contextlib.suppress(OSError):
                    os.remove(path)
                    removed.append(path)
                    _warn(f'removed {path}, an incomplete file left by a run that was killed while saving.', opt)
    return removed


def resume_iteration(opt):
    """The iteration a run resumes from, read from ``path.resume_state`` (``<iter>.state``); None if not resuming."""
    path = opt['path'].get('resume_state')
    return state_iteration(path) if path else None


# torch's LRScheduler keeps the position in these attributes; every other entry of a scheduler's state dict is the
# schedule (the class's arguments and what it derives from them, e.g. CosineAnnealingRestartLR.cumulative_period)
POSITION_KEYS = ('base_lrs', 'last_epoch', '_step_count', '_is_initial', '_get_lr_called_within_step', '_last_lr',
                 'verbose')
# settings torch adds to an optimizer's param groups over releases; a state saved before they existed lacks them
_RELEASE_FLAGS = (None, False)


def schedule_of(state_dict):
    """The schedule part of a scheduler's ``state_dict()`` (everything but :data:`POSITION_KEYS`)."""
    return {key: value for key, value in state_dict.items() if key not in POSITION_KEYS}


def _shown(value):
    """An option value as the option file writes it: a milestone Counter as its sorted list, tuples as lists."""
    if isinstance(value, Counter):
        return sorted(value.elements())
    if isinstance(value, (list, tuple)):
        return [_shown(item) for item in value]
    return value


def describe_changes(cls, saved, wanted):
    """``['milestones [4] → [6]', ...]``: the options of scheduler class ``cls`` (its arguments) that differ between
    its state dicts ``saved`` and ``wanted``; a class that keeps its schedule under other names gets those entries."""
    def changes(names):
        pairs = ((name, _shown(saved.get(name)), _shown(wanted.get(name))) for name in names)
        return [f'{name} {old} → {new}' for name, old, new in pairs if old != new]

    options = [name for name in inspect.signature(cls).parameters if name not in ('optimizer', 'last_epoch')]
    return changes(options) or changes(sorted(schedule_of(saved)))


def _probe(scheduler, state, initial_lrs):
    """A copy of ``scheduler`` (without the model's parameters) on a probe optimizer at ``initial_lrs``, with the
    schedule of state dict ``state`` and before step 0, as a new run starts it."""
    optimizer = torch.optim.SGD([{'params': [torch.zeros(1, requires_grad=True)], 'lr': lr, 'initial_lr': lr}
                                 for lr in initial_lrs])
    probe = copy.deepcopy(scheduler, {id(scheduler.optimizer): optimizer})
    probe.load_state_dict(copy.deepcopy(state))
    probe.base_lrs, probe.last_epoch = list(initial_lrs), -1
    return probe


def _rates(probe, last):
    """The learning rates (one per param group) ``probe.step()`` sets at steps 0..``last``; with torch's ``step()``
    what it does to them (``last_epoch``, ``get_lr()``, the groups) in a third of its time, and the torch-private flag
    it sets so that ``get_lr()`` does not warn (the paper's schedule at iteration 9e5 compares in 0.85 s)."""
    groups = probe.optimizer.param_groups
    if type(probe).step is not LRScheduler.step:
        for _ in range(last + 1):
            probe.step()
            yield [group['lr'] for group in groups]
        return
    get_lr, probe._get_lr_called_within_step = probe.get_lr, True
    for step in range(last + 1):
        probe.last_epoch = step
        rates = get_lr()
        for group, rate in zip(groups, rates):
            group['lr'] = rate
        yield rates


def _first_difference(scheduler, saved, wanted):
    """``(iteration, old, new)``, rates in units of the initial lr: the first iteration up to the state's that the
    schedule of ``wanted`` gives another rate than ``saved`` trained it at (rel_tol 1e-12); else None."""
    initial, last = saved['base_lrs'], saved['last_epoch']
    probes = (_probe(scheduler, saved, initial), _probe(scheduler, wanted, initial))
    with warnings.catch_warnings():  # what torch says of the probes (e.g. that their optimizers never step)
        warnings.simplefilter('ignore')
        for step, (old, new) in enumerate(zip(*(_rates(probe, last) for probe in probes))):
            if old != new:
                for old_lr, new_lr, lr in zip(old, new, initial):
                    if not math.isclose(old_lr, new_lr, rel_tol=1e-12):
                        return step + 1, old_lr / lr, new_lr / lr
    return None


#: the ways on from a refused change, ending each message
HOW_TO_GO_ON = ('restore the values the state was saved with, or start a new run from its weights '
                '(path.pretrain_network_g) under a new name.')


def check_scheduler_change(scheduler, saved, wanted, iteration, state_path):
    """:func:`describe_changes` from the state's scheduler ``saved`` to the option file's ``wanted`` (state dicts of
    the class of ``scheduler``); InputError for another scheduler type or a change to an iteration already trained."""
    cls = type(scheduler)
    if set(schedule_of(saved)) != set(schedule_of(wanted)):
        raise InputError(f'train.scheduler builds a {cls.__name__}, but training state {state_path!r} was saved with '
                         f'another scheduler (its settings: {", ".join(sorted(schedule_of(saved)))}); a resumed run '
                         f'cannot switch schedulers. To continue it, {HOW_TO_GO_ON}')
    changes = describe_changes(cls, saved, wanted)
    if not changes:
        return changes
    differs = _first_difference(scheduler, saved, wanted)
    if differs:
        at, old, new = differs
        raise InputError(f'train.scheduler cannot change from training state {state_path!r} (iteration '
                         f'{iteration}) as asked ({"; ".join(changes)}): iteration {at} was trained at {old:g} x the '
                         f'initial lr and the new schedule gives it {new:g} x (iterations 1-{iteration} were trained '
                         'on the saved schedule, so the resumed run would not be the one the option file describes). '
                         f'Only a change that first acts after iteration {iteration} can continue it (a milestone or '
                         f'restart from {iteration} on, a cosine cycle after the current one). Or {HOW_TO_GO_ON}')
    return changes


def _settings(group):
    return {key: _shown(value) for key, value in group.items() if key not in ('params', 'lr', 'initial_lr')}


def check_optimizer_change(key, saved, optimizer, state_path):
    """Refuse ``optimizer`` (:func:`_option_optimizer`) when its type or settings differ from the state dict
    ``saved``; the initial lr is compared with the state's ``initial_lr`` (its ``lr`` is the scheduled one)."""
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
            raise InputError(f'train.{key} ({kind}) cannot change from training state {state_path!r} '
                             f'({"; ".join(changes)}): '
                             'every iteration so far was trained with the saved settings, so the resumed run would '
                             f'not be the one the option file describes. To continue it, {HOW_TO_GO_ON}')


def _option_optimizer(model_cls, options):
    """``train.optim_g`` built as ``model_cls`` builds it, on one probe parameter that has taken one step (so that its
    per-parameter state shows what the type keeps: Adam ``exp_avg``..., SGD ``momentum_buffer``)."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(model_cls, options, [parameter])
    parameter.grad = torch.ones(1)
    optimizer.step()
    for group in optimizer.param_groups:  # as the schedulers set it on the model's optimizer
        group.setdefault('initial_lr', group['lr'])
    return optimizer


def check_resume_options(opt, state, state_path):
    """Refuse, before anything is written, what the option file changes from ``state`` and cannot be applied exactly
    (models with the one optimizer ``train.optim_g``; others are left to BasicSR)."""
    train = opt.get('train') or {}
    optimizer_keys = [key for key in train if key.startswith('optim_')]
    if optimizer_keys != ['optim_g'] or len(state['optimizers']) != 1 or not train.get('scheduler'):
        return
    model_cls = MODEL_REGISTRY.get(opt['model_type'])
    optimizer = _option_optimizer(model_cls, train['optim_g'])
    check_optimizer_change('optim_g', state['optimizers'][0], optimizer, state_path)
    schedulers = build_schedulers(model_cls, train['scheduler'], [optimizer])
    if len(schedulers) != len(state['schedulers']):
        return  # check_optimizers_fit names this mismatch when the model loads the state
    for scheduler, saved in zip(schedulers, state['schedulers']):
        changes = check_scheduler_change(scheduler, saved, scheduler.state_dict(), state['iter'], state_path)
        if changes and not getattr(model_cls, 'applies_option_schedule', False):
            raise InputError(f'train.scheduler differs from training state {state_path!r} ({"; ".join(changes)}), '
                             f'but model_type {opt["model_type"]} resumes with the state\'s schedule (BasicSR\'s '
                             'resume_training), so the change would be ignored. Use model_type: RNANModel to resume '
                             'with the option file\'s schedule, or restore the values.')


def keep_option_schedules(schedulers, option_states, resume_state, state_path, logger=None):
    """After BasicSR's ``resume_training``: put the option file's schedule (``option_states``, the schedulers'
    ``state_dict()`` before the state was loaded) back into each scheduler at the state's position, with one
    ``logger.info`` line naming what changed."""
    for scheduler, wanted, saved in zip(schedulers, option_states, resume_state['schedulers']):
        changes = check_scheduler_change(scheduler, saved, wanted, resume_state['iter'], state_path)
        if changes:
            scheduler.load_state_dict(dict(scheduler.state_dict(), **schedule_of(wanted)))
            if logger is not None:
                logger.info(f'Resuming at iteration {resume_state["iter"]} with the option file\'s train.scheduler '
                            f'({type(scheduler).__name__}), not the training state\'s: {"; ".join(changes)}; '
                            f'iteration {resume_state["iter"] + 1} trains at lr {_next_lr(scheduler):.4g}.')


def _next_lr(scheduler):
    """The learning rate the next ``scheduler.step()`` sets in the first param group (without stepping)."""
    scheduler.last_epoch += 1
    try:
        with warnings.catch_warnings():  # torch's classes warn when get_lr() is called outside step()
            warnings.simplefilter('ignore')
            return scheduler.get_lr()[0]
    finally:
        scheduler.last_epoch -= 1


# ---------------------------------------------------------------------------------------------------------------------
# which state: the newest usable one, never one of another experiment or network, never forgetting an archived one
# ---------------------------------------------------------------------------------------------------------------------
def check_networks_fit(opt, state_path, weights_by_key):
    """Raise an InputError if the saved network weights of a state do not fit the networks of ``opt``."""
    for key, (path, weights) in weights_by_key.items():
        expected = expected_state_dict(opt[key])
        if expected is None:
            continue
        found, _ = select_params(weights, 'params', path, f'network weights of training state {state_path!r}')
        mismatch = describe_mismatch(expected, found)
        if mismatch:
            raise InputError(f'training state {state_path!r} is from a different network: its weights {path!r} do '
                             f'not fit {key} ({opt[key].get("type")}): {mismatch}. network_g or scale was changed '
                             'since it was saved. To continue that run, restore the options it was saved with '
                             f"(BasicSR keeps a copy in {opt['path']['experiments_root']}); to train the changed "
                             'network, use a new name (starting over without --auto_resume / resume_state renames '
                             'the experiment folder to <name>_archived_<time>).')


_MISMATCH_FIX_SHORT = ('The network options (network_g, scale) were changed since it was saved: restore them, or train '
                       'the changed network under a new name.')


def check_optimizers_fit(optimizers, schedulers, state, state_path):
    """Raise an InputError if the optimizer / scheduler states of ``state`` do not belong to these parameters: every
    saved per-parameter tensor (Adam's ``exp_avg``...) must have its parameter's shape (``Optimizer.load_state_dict``
    checks only the group sizes; moments of another network of the same depth would fail at the next step)."""
    where = f'training state {state_path!r}' if state_path else 'the training state'
    saved_optimizers, saved_schedulers = state['optimizers'], state['schedulers']
    if len(saved_optimizers) != len(optimizers) or len(saved_schedulers) != len(schedulers):
        raise InputError(f'{where} holds {len(saved_optimizers)} optimizer(s) and {len(saved_schedulers)} '
                         f'scheduler(s), but this model has {len(optimizers)} and {len(schedulers)}: it was saved by '
                         'another model_type or training setup (train.optim_*, scheduler).')
    for index, (optimizer, saved) in enumerate(zip(optimizers, saved_optimizers)):
        groups, saved_groups = optimizer.param_groups, saved.get('param_groups', [])
        sizes, saved_sizes = [len(g['params']) for g in groups], [len(g['params']) for g in saved_groups]
        if sizes != saved_sizes:
            raise InputError(f'{where} is from a different network: optimizer {index} was saved for parameter '
                             f'groups of sizes {saved_sizes}, this model has {sizes}. {_MISMATCH_FIX_SHORT}')
        for group, saved_group in zip(groups, saved_groups):
            for param, param_id in zip(group['params'], saved_group['params']):
                for name, value in saved.get('state', {}).get(param_id, {}).items():
                    if torch.is_tensor(value) and value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
                        raise InputError(f'{where} is from a different network: optimizer {index} holds {name} '
                                         f'of shape {tuple(value.shape)} for a parameter of shape '
                                         f'{tuple(param.shape)}. {_MISMATCH_FIX_SHORT}')


def _load_networks(opt, state, state_path):
    """``{key: (path, weights)}`` of the networks saved with ``state``; InputError if one is missing or bad."""
    loaded = {}
    for key, path in network_files(opt, state['iter']).items():
        if not osp.isfile(path):
            raise InputError(f'training state {state_path!r} (iteration {state["iter"]}) needs its network weights '
                             f'{path!r}, which do not exist (BasicSR loads {key} from there when resuming).')
        loaded[key] = (path, load_checkpoint(path, what=f'network weights of training state {state_path!r}'))
    return loaded


def _check_state_belongs_to_experiment(opt, path):
    """A state of experiments/A given while ``name`` is B would load B's networks and write into B: refuse it."""
    state_dir = osp.realpath(osp.dirname(osp.abspath(path)))
    expected = osp.realpath(opt['path']['training_states'])
    if state_dir != expected and osp.basename(state_dir) == 'training_states':
        other = osp.basename(osp.dirname(state_dir))
        raise InputError(f"path.resume_state {path!r} belongs to experiment {other!r}, but name is {opt['name']!r}: "
                         f"resuming reads the network weights from and writes to experiments/{opt['name']}. Set "
                         f"name: {other} to continue that experiment (without --debug, which prefixes debug_), or "
                         f"start a new experiment from its weights with path.pretrain_network_g.")


def _auto_resume_state(opt):
    """``(state, path, weights)`` of the newest state that loads with every network file of its iteration (the
    others skipped with a warning), or None to start fresh: only when nothing but an interrupted first checkpoint
    would be lost; older checkpoints without a usable state are an InputError (BasicSR would archive them)."""
    states_dir, models_dir = opt['path']['training_states'], opt['path']['models']
    skipped = []
    for path in list_training_states(states_dir):
        try:
            state = load_training_state(path)
            weights = _load_networks(opt, state, path)
        except InputError as error:
            _warn(f'--auto_resume skips {osp.basename(path)}: {error}', opt)
            skipped.append(path)
            continue
        return state, path, weights

    networks = list_network_files(models_dir)
    if not networks and not skipped:
        return None
    iterations = {it for _, it in networks} | {state_iteration(p) for p in skipped}
    newest = max(iterations)
    if newest >= 0 and iterations == {newest}:  # only the first checkpoint exists, and it is incomplete
        _warn(f'--auto_resume: no complete training state in {states_dir} (the run stopped while writing its first '
              f'checkpoint, iteration {newest}); starting from iteration 0.', opt)
        return None
    ordered = sorted(networks.items(), key=lambda item: (item[0][1] < 0, item[0][1], item[0][0]))  # latest last
    shown = ', '.join(osp.basename(path) for _, path in ordered[-3:])
    states = (f'only unusable states ({", ".join(osp.basename(p) for p in skipped)}, see the warnings above)'
              if skipped else 'no training state')
    raise InputError(f'--auto_resume: {models_dir} holds network checkpoints ({shown}) but {states_dir} has '
                     f'{states}, so training cannot continue where it stopped (a state holds the iteration, optimizer '
                     f'and scheduler). To start a new run from those weights, set path.pretrain_network_g to one of '
                     f'them under a new name; to start over, run without --auto_resume (BasicSR then renames '
                     f"experiments/{opt['name']} to {opt['name']}_archived_<time>).")


def check_archived_states(opt, resumed_iteration):
    """Refuse to let ``--auto_resume`` forget iterations: a start without it archived ``experiments/<name>`` with a
    state newer than ``resumed_iteration`` (None: no state), which would be dropped."""
    root = osp.dirname(opt['path']['experiments_root'])
    archives = [folder for folder in _names(root) if folder.startswith(f"{opt['name']}_archived_")]
    paths = [newest_training_state(osp.join(root, folder, 'training_states')) for folder in archives]
    archived = max(((state_iteration(path), path) for path in paths if path), default=None)  # the newest archived
    if archived is None or (resumed_iteration is not None and archived[0] <= resumed_iteration):
        return
    iteration, path = archived
    archive = osp.dirname(osp.dirname(path))
    current = opt['path']['experiments_root']
    here = (f'{current} holds no training state' if resumed_iteration is None else
            f'{current} holds only older states (newest: iteration {resumed_iteration})')
    other = ('to continue from the older state instead, set path.resume_state to it and run without --auto_resume'
             if resumed_iteration is not None else f'to start over, run without --auto_resume (BasicSR then archives '
             f'{current})')
    raise InputError(f"--auto_resume: the newest training state of experiment {opt['name']!r} is iteration "
                     f'{iteration} in the archived folder {archive} ({path}), but {here}. To continue from iteration '
                     f'{iteration}, move {current} aside (mv {current} {current}_aside, if it exists) and the archive '
                     f'back (mv {archive} {current}), then run the same command again; {other}.')


def choose_resume_state(opt):
    """``(state, path)`` a run resumes from, or None to start anew: with ``--auto_resume`` :func:`_auto_resume_state`
    (:func:`check_archived_states`), else ``path.resume_state`` of this experiment. Its networks must fit ``opt``,
    the option file's optimizer and schedule must apply (:func:`check_resume_options`), and ``train.total_iter`` must
    lie beyond it (BasicSR would train nothing and end as if it had). InputError: one line, with the way on."""
    if opt['auto_resume']:
        found = _auto_resume_state(opt)
        check_archived_states(opt, found[0]['iter'] if found else None)
        if found is None:
            return None
        state, path, weights = found
    else:
        path = opt['path'].get('resume_state')
        if not path:
            return None
        state = load_training_state(path)
        _check_state_belongs_to_experiment(opt, path)
        weights = _load_networks(opt, state, path)
    check_networks_fit(opt, path, weights)
    check_resume_options(opt, state, path)
    total_iter, saved = (opt.get('train') or {}).get('total_iter'), state['iter']
    if total_iter is not None and int(total_iter) <= saved:
        given = '--auto_resume' if opt['auto_resume'] else 'path.resume_state'
        raise InputError(f'{given}: training state {path!r} is at iteration {saved} and train.total_iter is '
                         f'{int(total_iter)}: nothing is left to train (its weights are in {opt["path"]["models"]}). '
                         f'To train further, raise train.total_iter (e.g. --force_yml train:total_iter={2 * saved}).')
    return state, path
