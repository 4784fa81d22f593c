"""Finding and loading BasicSR training states (``<iter>.state``) for ``resume_state`` and ``--auto_resume``.

A training state is what ``BaseModel.save_training_state`` writes: ``{'epoch', 'iter', 'optimizers',
'schedulers'}``. The matching network weights are ``models/net_g_<iter>.pth`` beside it; BasicSR's ``check_resume``
points ``pretrain_network_g`` there.
"""
import os
import sys
import torch
from os import path as osp

from rnan_basicsr.utils.errors import InputError

STATE_KEYS = ('epoch', 'iter', 'optimizers', 'schedulers')


def _warn(message):
    # BasicSR's root logger is not set up yet when resume states are read (train_pipeline configures it later).
    print(f'rnan_basicsr: warning: {message}', file=sys.stderr, flush=True)


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
        raise InputError(f'cannot load training state {path!r}: {type(error).__name__}: '
                         f'{str(error).splitlines()[0] if str(error) else ""}. The file is truncated, corrupt, or not '
                         'a file torch.save wrote; use an earlier <iter>.state.') from None
    if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
        if isinstance(state, dict) and (state.keys() & {'params', 'params_ema', 'state_dict'}
                                        or all(torch.is_tensor(v) for v in state.values())):
            raise InputError(f'{path!r} is a network weights file, not a training state. To start from these '
                             'weights set path.pretrain_network_g to it; to resume, set path.resume_state to a '
                             'training_states/<iter>.state file.')
        found = sorted(state.keys()) if isinstance(state, dict) else type(state).__name__
        raise InputError(f'{path!r} is not a BasicSR training state: expected keys {list(STATE_KEYS)}, found {found}.')
    return state


def load_resume_state(opt):
    """Drop-in replacement for ``basicsr.train.load_resume_state`` (installed by :mod:`rnan_basicsr.compat`).

    With ``--auto_resume`` the newest state in ``opt['path']['training_states']`` (under the experiment root, not
    the current directory) is used; a state that cannot be loaded, or whose network file is missing, is skipped with
    a warning naming it and the previous one is tried. Otherwise ``opt['path']['resume_state']`` is loaded if set.

    Returns:
        dict | None: the training state, or None to start from scratch.
    """
    from basicsr.utils import check_resume

    if opt['auto_resume']:
        state = None
        for path in list_training_states(opt['path']['training_states']):
            try:
                candidate = load_training_state(path)
            except InputError as error:
                _warn(f'skipping {error}')
                continue
            network_path = osp.join(opt['path']['models'], f'net_g_{candidate["iter"]}.pth')
            if not osp.isfile(network_path):
                _warn(f'skipping training state {path!r}: its network weights {network_path!r} are missing.')
                continue
            state = candidate
            opt['path']['resume_state'] = path
            break
        if state is None:
            return None
    else:
        path = opt['path'].get('resume_state')
        if not path:
            return None
        state = load_training_state(path)
    check_resume(opt, state['iter'])
    return state
