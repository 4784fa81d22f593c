"""Finding and loading BasicSR training states (``<iter>.state``) safely: the adapter behind ``--auto_resume`` and
``path.resume_state``.

A training state is what ``BaseModel.save_training_state`` writes: ``{'epoch', 'iter', 'optimizers',
'schedulers'}``. The matching network weights are ``models/net_<x>_<iter>.pth`` in the same experiment, one per
``network_<x>`` of the options; BasicSR's ``check_resume`` points ``pretrain_network_<x>`` there. A state is only
usable together with those files: with :mod:`rnan_basicsr.compat` every network file is written (atomically) before
its state, so a kill leaves at worst a newest network file without its state, never a state without its network.

What BasicSR 1.4.2 gets wrong is fixed here: states are loaded on the CPU with ``weights_only=True`` (its
``load_resume_state`` needs CUDA and full pickle) from the experiment root (it looks under the current directory), and
temporary files of a killed run are removed. Which state to resume from, and what to do when the option file and the
state disagree, is the plugin's policy, not an adapter: :mod:`rnan_basicsr.models.resume_policy`.

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
from rnan_basicsr.weights import looks_like_weights

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


def newest_training_state(states_dir):
    """The path of the newest ``<iter>.state`` in ``states_dir`` (highest iteration), or None if there is none.

    Newest, not necessarily usable: ``--auto_resume`` skips states whose files do not load (:func:`_auto_resume_state`).
    """
    states = list_training_states(states_dir)
    return states[0] if states else None


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


def load_resume_state(opt):
    """Drop-in replacement for ``basicsr.train.load_resume_state`` (installed by :mod:`rnan_basicsr.compat`).

    The state is chosen and checked against the options by
    :func:`rnan_basicsr.models.resume_policy.choose_resume_state` (every file loaded with ``weights_only=True`` on the
    CPU, from the experiment root); then ``path.resume_state`` is set to it, the temporary files a killed run left
    behind are removed, and BasicSR's ``check_resume`` points ``pretrain_network_<x>`` at its networks. Nothing is
    written before the checks pass.

    Returns:
        dict | None: the training state, or None to start from scratch.
    """
    from basicsr.utils import check_resume

    from rnan_basicsr.models.resume_policy import choose_resume_state

    chosen = choose_resume_state(opt)
    if chosen is None:
        return None
    state, opt['path']['resume_state'] = chosen
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
    """Replace ``basicsr.train.load_resume_state`` by :func:`load_resume_state`.

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
    network of the same depth load and fail later. See
    :func:`rnan_basicsr.models.resume_policy.check_optimizers_fit`.
    """
    from basicsr.models.base_model import BaseModel

    original = BaseModel.resume_training
    if is_patched(original):
        return False

    @functools.wraps(original)
    def resume_training(self, resume_state):
        from rnan_basicsr.models.resume_policy import check_optimizers_fit

        check_optimizers_fit(self.optimizers, self.schedulers, resume_state, self.opt['path'].get('resume_state'))
        return original(self, resume_state)

    BaseModel.resume_training = mark(resume_training)
    return True
