"""Finding, loading and checking BasicSR training states (``<iter>.state``) for ``resume_state`` and ``--auto_resume``.

A training state is what ``BaseModel.save_training_state`` writes: ``{'epoch', 'iter', 'optimizers',
'schedulers'}``. The matching network weights are ``models/net_<x>_<iter>.pth`` in the same experiment, one per
``network_<x>`` of the options; BasicSR's ``check_resume`` points ``pretrain_network_<x>`` there. A state is only
usable together with those files: with :mod:`rnan_basicsr.compat` every network file is written (atomically) before
its state, so a kill leaves at worst a newest network file without its state, never a state without its network.

Nothing here calls ``get_root_logger``: resume states are read before ``train_pipeline`` sets up its logger, and an
early call would leave the run without a log file. Warnings go to stderr, from rank 0 only.
"""
import functools
import os
import re
import sys
import torch
from os import path as osp

from rnan_basicsr.compat._patching import is_patched, mark, source_contains
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.script_util import process_is_running
from rnan_basicsr.weights import (describe_mismatch, expected_state_dict, load_checkpoint, looks_like_weights,
                                  select_params)

STATE_KEYS = ('epoch', 'iter', 'optimizers', 'schedulers')
# ``atomic_torch_save`` writes ``.<name>.tmp<pid>`` before renaming it to ``<name>``; a kill leaves such a file behind
TEMP_FILE = re.compile(r'^\..+\.tmp(\d+)$')
NETWORK_FILE = re.compile(r'^net_(.+?)_(\d+|latest)\.pth$')


def _warn(message, opt=None):
    if opt is None or opt.get('rank', 0) == 0:
        print(f'rnan_basicsr: warning: {message}', file=sys.stderr, flush=True)


def _first_line(error):
    text = str(error).strip()
    return f'{type(error).__name__}: {text.splitlines()[0]}' if text else type(error).__name__


def list_training_states(states_dir):
    """Paths of the ``<iter>.state`` files in ``states_dir``, newest iteration first ([] if none)."""
    if not osp.isdir(states_dir):
        return []
    states = []
    for name in os.listdir(states_dir):
        stem, ext = osp.splitext(name)
        if ext == '.state' and stem.isdigit():
            states.append((int(stem), osp.join(states_dir, name)))
    return [path for _, path in sorted(states, reverse=True)]


def list_network_files(models_dir):
    """``{(label, iteration): path}`` of BasicSR's ``net_<label>_<iter>.pth`` files; iteration -1 for ``latest``."""
    found = {}
    if osp.isdir(models_dir):
        for name in os.listdir(models_dir):
            match = NETWORK_FILE.match(name)
            if match:
                iteration = -1 if match.group(2) == 'latest' else int(match.group(2))
                found[(match.group(1), iteration)] = osp.join(models_dir, name)
    return found


def load_training_state(path):
    """Load a training state on the CPU with ``weights_only=True`` and check that it is one.

    Optimizer states are moved to the parameters' device later by ``Optimizer.load_state_dict``.

    Raises:
        InputError: the file is missing, unreadable or corrupt, or is not a training state (e.g. network weights).
    """
    if not osp.isfile(path):
        raise InputError(f'resume_state {path!r} does not exist. Point path.resume_state to an '
                         'experiments/<name>/training_states/<iter>.state file, or use --auto_resume.')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise InputError(f'cannot load training state {path!r}: {_first_line(error)}. The file is truncated, '
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


def _mismatch_fix(opt):
    return (f"network_g or scale was changed since it was saved. To continue that run, restore the options it was "
            f"saved with (BasicSR keeps a copy in {opt['path'].get('experiments_root', 'experiments/<name>')}); to "
            f"train the changed network, use a new name (starting over without --auto_resume / resume_state renames "
            f"the experiment folder to <name>_archived_<time>).")


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
                             f'not fit {key} ({opt[key].get("type")}): {mismatch}. {_mismatch_fix(opt)}')


def check_optimizers_fit(optimizers, schedulers, state, state_path):
    """Raise an InputError if the optimizer / scheduler states of ``state`` do not belong to these parameters.

    ``Optimizer.load_state_dict`` checks only the number of parameters per group; a state saved for another network
    of the same depth (other ``num_feat``, channels or scale) would load and fail at the next step with a size error.
    Every saved per-parameter tensor (Adam's ``exp_avg``, SGD's ``momentum_buffer``...) must have its parameter's
    shape.
    """
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
                             f'groups of sizes {saved_sizes}, this model has {sizes}. {_mismatch_fix_short()}')
        for group, saved_group in zip(groups, saved_groups):
            for param, param_id in zip(group['params'], saved_group['params']):
                for name, value in saved.get('state', {}).get(param_id, {}).items():
                    if torch.is_tensor(value) and value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
                        raise InputError(f'{where} is from a different network: optimizer {index} holds {name} '
                                         f'of shape {tuple(value.shape)} for a parameter of shape '
                                         f'{tuple(param.shape)}. {_mismatch_fix_short()}')


def _mismatch_fix_short():
    return ('The network options (network_g, scale) were changed since it was saved: restore them, or train the '
            'changed network under a new name.')


def remove_stale_temp_files(opt):
    """Remove the ``.<name>.tmp<pid>`` files a killed run left in models/ and training_states/ (rank 0 only).

    Files of a process that is still running on this machine are kept (two runs writing into one experiment).
    """
    if opt.get('rank', 0) != 0:
        return []
    removed = []
    for folder in (opt['path'].get('models'), opt['path'].get('training_states')):
        if not folder or not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            match = TEMP_FILE.match(name)
            if not match or process_is_running(int(match.group(1))):
                continue
            try:
                os.remove(osp.join(folder, name))
                removed.append(osp.join(folder, name))
            except OSError:
                pass
    return removed


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
    """The newest usable state under the experiment root as ``(state, path, weights)``, or None to start fresh.

    A state is usable when it and every network file of its iteration load. Unusable ones are skipped with a
    warning naming them. Starting from iteration 0 is allowed only when nothing but an interrupted first checkpoint
    would be lost; older checkpoints without any usable state raise an InputError (BasicSR would silently rename
    the experiment to ``*_archived_*`` and start over).
    """
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
    iterations = {it for _, it in networks} | {int(osp.basename(p).split('.')[0]) for p in skipped}
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


def _newest_archived_state(opt):
    """``(iteration, path)`` of the newest training state in ``experiments/<name>_archived_*``, or None."""
    root = osp.dirname(opt['path']['experiments_root'])
    prefix = f"{opt['name']}_archived_"
    newest = None
    if osp.isdir(root):
        for folder in os.listdir(root):
            if folder.startswith(prefix):
                for path in list_training_states(osp.join(root, folder, 'training_states'))[:1]:
                    iteration = int(osp.basename(path).split('.')[0])
                    if newest is None or iteration > newest[0]:
                        newest = (iteration, path)
    return newest


def check_archived_states(opt, resumed_iteration):
    """Refuse to let ``--auto_resume`` forget a run whose newest state was archived.

    When an earlier start without ``--auto_resume`` renamed ``experiments/<name>`` to ``<name>_archived_<time>``, the
    newest state may sit there while ``experiments/<name>`` holds an older one, or none: resuming (or starting from
    0) would silently drop those iterations. This says where the newest state is and how to continue from it.
    """
    archived = _newest_archived_state(opt)
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


def load_resume_state(opt):
    """Drop-in replacement for ``basicsr.train.load_resume_state`` (installed by :mod:`rnan_basicsr.compat`).

    With ``--auto_resume`` the newest usable state in ``opt['path']['training_states']`` (under the experiment root,
    not the current directory) is used, see :func:`_auto_resume_state`. Otherwise ``opt['path']['resume_state']`` is
    loaded if set; it must belong to this experiment and its network weights must exist. Either way the saved
    networks must fit the networks of ``opt`` (shapes), all files are loaded with ``weights_only=True`` on the CPU,
    and the temporary files a killed run left behind are removed. Nothing is written before these checks pass.

    Returns:
        dict | None: the training state, or None to start from scratch.
    """
    from basicsr.utils import check_resume

    if opt['auto_resume']:
        found = _auto_resume_state(opt)
        check_archived_states(opt, found[0]['iter'] if found else None)
        if found is None:
            return None
        state, path, weights = found
        opt['path']['resume_state'] = path
    else:
        path = opt['path'].get('resume_state')
        if not path:
            return None
        state = load_training_state(path)
        _check_state_belongs_to_experiment(opt, path)
        weights = _load_networks(opt, state, path)
    check_networks_fit(opt, path, weights)
    for stale in remove_stale_temp_files(opt):
        _warn(f'removed {stale}, an incomplete file left by a run that was killed while saving.', opt)
    check_resume(opt, state['iter'])
    return state


def resume_iteration(opt):
    """The iteration a run resumes from, read from ``path.resume_state`` (``<iter>.state``); None if not resuming."""
    path = opt.get('path', {}).get('resume_state')
    if not path:
        return None
    stem, ext = osp.splitext(osp.basename(path))
    return int(stem) if ext == '.state' and stem.isdigit() else None


def patch_load_resume_state():
    """Replace ``basicsr.train.load_resume_state`` by :func:`load_resume_state` (this module).

    BasicSR's version maps the state onto ``torch.cuda.current_device()`` (fails without CUDA), loads it with full
    pickle, and ``--auto_resume`` looks for ``experiments/<name>/training_states`` relative to the current directory
    instead of the experiment root. Ours loads on the CPU with ``weights_only=True`` from
    ``opt['path']['training_states']`` and explains bad resume files.
    """
    import basicsr.train as basicsr_train

    original = basicsr_train.load_resume_state
    if is_patched(original) or not source_contains(original, 'torch.cuda.current_device', "osp.join('experiments'"):
        return False
    basicsr_train.load_resume_state = mark(load_resume_state)
    return True


def patch_resume_training_check():
    """Check that a training state belongs to the model's parameters before ``resume_training`` loads it.

    BasicSR asserts only the number of optimizers; torch checks only group sizes, so Adam moments saved for another
    network of the same depth load and fail later. See :func:`check_optimizers_fit` (this module).
    """
    from basicsr.models.base_model import BaseModel

    original = BaseModel.resume_training
    if is_patched(original):
        return False

    @functools.wraps(original)
    def resume_training(self, resume_state):
        check_optimizers_fit(self.optimizers, self.schedulers, resume_state, self.opt['path'].get('resume_state'))
        return original(self, resume_state)

    BaseModel.resume_training = mark(resume_training)
    return True
