"""One TensorBoard distribution: BasicSR 1.4.2 requires ``tb-nightly``, this package ``tensorboard``; both install the
``tensorboard`` package, and with both the ``tensorboard`` command fails ("Duplicate plugins for name projector").
``scripts/setup_venv.sh`` removes ``tb-nightly``; an environment installed by hand is told, once, how to do the same.
"""
import contextlib
import sys
from importlib import metadata

#: distributions that each install the ``tensorboard`` package
TENSORBOARD_DISTRIBUTIONS = ('tensorboard', 'tb-nightly')
FIX_TENSORBOARD = 'pip uninstall -y tb-nightly && pip install --force-reinstall --no-deps tensorboard'


def installed_tensorboards():
    """The names of :data:`TENSORBOARD_DISTRIBUTIONS` installed in this environment."""
    found = []
    for name in TENSORBOARD_DISTRIBUTIONS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            metadata.distribution(name)
            found.append(name)
    return found


def tensorboard_problem():
    """One line saying what is wrong and the command that fixes it, or None when one TensorBoard is installed."""
    found = installed_tensorboards()
    if len(found) < 2:
        return None
    return (f'both {" and ".join(found)} are installed; they overwrite each other\'s tensorboard package, so the '
            f'tensorboard command fails ("Duplicate plugins for name projector"). Fix: {FIX_TENSORBOARD}')


def warn_about_tensorboard(stream=None):
    """Print :func:`tensorboard_problem` as one warning line to ``stream`` (stderr); returns it."""
    problem = tensorboard_problem()
    if problem:
        print(f'rnan_basicsr: warning: {problem}', file=stream or sys.stderr, flush=True)
    return problem
