"""``basicsr.train.load_resume_state`` replaced by :mod:`rnan_basicsr.models.resume_policy` (imported inside the
functions: this package is imported before the import patches make basicsr importable)."""
from rnan_basicsr.compat._patching import replace


def load_resume_state(opt):
    """The training state :func:`~rnan_basicsr.models.resume_policy.choose_resume_state` chose (None: start anew),
    set as ``path.resume_state``; then a killed run's temporary files are removed and BasicSR's ``check_resume``
    points ``pretrain_network_<x>`` at its networks. Nothing is written before the checks pass."""
    from basicsr.utils import check_resume

    from rnan_basicsr.models.resume_policy import choose_resume_state, remove_stale_temp_files

    chosen = choose_resume_state(opt)
    if chosen is None:
        return None
    state, opt['path']['resume_state'] = chosen
    remove_stale_temp_files(opt)
    check_resume(opt, state['iter'])
    return state


def patch_load_resume_state():
    """Replace ``basicsr.train.load_resume_state`` (``torch.cuda.current_device()``, full pickle, ``--auto_resume``
    under the current directory) by :func:`load_resume_state`."""
    import basicsr.train as basicsr_train

    return replace(basicsr_train, 'load_resume_state', load_resume_state)
