"""The adapter behind ``--auto_resume`` and ``path.resume_state``: BasicSR's ``load_resume_state`` replaced by one
that chooses and loads the state with :mod:`rnan_basicsr.models.resume_policy` (on the CPU, ``weights_only=True``,
from the experiment root). Checking that a state belongs to the model's parameters is ``RNANModel.resume_training``'s.
"""
from rnan_basicsr.compat._patching import is_patched, mark

# rnan_basicsr.models (which imports basicsr) is imported inside the functions: this package is imported before the
# import patches make basicsr importable


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

    from rnan_basicsr.models.resume_policy import _warn, choose_resume_state, remove_stale_temp_files

    chosen = choose_resume_state(opt)
    if chosen is None:
        return None
    state, opt['path']['resume_state'] = chosen
    for stale in remove_stale_temp_files(opt):
        _warn(f'removed {stale}, an incomplete file left by a run that was killed while saving.', opt)
    check_resume(opt, state['iter'])
    return state


def patch_load_resume_state():
    """Replace ``basicsr.train.load_resume_state`` by :func:`load_resume_state`.

    BasicSR's version maps the state onto ``torch.cuda.current_device()`` (fails without CUDA), loads it with full
    pickle, and ``--auto_resume`` looks for ``experiments/<name>/training_states`` relative to the current directory
    instead of the experiment root. Ours loads on the CPU with ``weights_only=True`` from
    ``opt['path']['training_states']`` and explains bad resume files.
    """
    import basicsr.train as basicsr_train

    original = basicsr_train.load_resume_state
    if is_patched(original):
        return False
    basicsr_train.load_resume_state = mark(load_resume_state)
    return True
