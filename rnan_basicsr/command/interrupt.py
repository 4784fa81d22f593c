"""Ctrl-C and SIGTERM during a ``basicsr train|test`` run, as a terminal sends them: to every process of the group.

The first one raises :class:`Interrupted` in the main process, which the run turns into one line saying where to
continue; a second one during that clean-up is ignored. Forked children (DataLoader workers) end by the signal
quietly. :func:`end_by_signal` then ends the process by the signal itself, so the shell sees 130 / 143 *and* that a
signal ended the command (``basicsr train ...; basicsr test ...`` in a script stops after Ctrl-C).
"""
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM; ``status`` is the exit status (128 + signal number)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.status = 128 + signum


class _Interruption:
    """The signal that interrupted this run (``signum``), and the process the run belongs to (``main_pid``)."""

    def __init__(self):
        self.main_pid = os.getpid()
        self.signum = None

    def handle(self, signum, frame):
        if os.getpid() != self.main_pid:  # a forked child: end by the signal, without a traceback
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.signum is not None:  # a second Ctrl-C while the run cleans up: the first one is being handled
            return
        self.signum = signum
        # DataLoader's SIGCHLD handler raises in the main thread when a worker died of a signal, which they all do now
        signal.signal(signal.SIGCHLD, _ignore)
        raise Interrupted(signum)


def _ignore(signum, frame):
    """A handler that does nothing. Not ``SIG_IGN``: Python reports a signal that arrived just before its handler
    became ``SIG_IGN`` / ``SIG_DFL`` as an error ("ignored due to race condition")."""


_current = None


@contextlib.contextmanager
def signals_interrupt():
    """While the block runs, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (once). After an
    interruption they stay ignored until :func:`end_by_signal` ends the process."""
    global _current
    _current = _Interruption()
    previous = {sig: signal.signal(sig, _current.handle) for sig in SIGNALS}
    try:
        yield _current
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if _current.signum is None else _ignore)


def _stop_children(timeout=5):
    """Stop what this process started and still runs: DataLoader workers first through their iterators (freed by
    the garbage collector once the interrupted frames are gone), then any other multiprocessing child."""
    gc.collect()
    children = multiprocessing.active_children()
    for child in children:
        with contextlib.suppress(OSError):
            child.terminate()
    for child in children:
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join(timeout)


def end_by_signal():
    """If a signal interrupted the last run, end this process by that signal after the clean-up (never returns).
    Otherwise return: the caller exits with the run's status."""
    interruption = _current
    if interruption is None or interruption.signum is None or os.getpid() != interruption.main_pid:
        return
    for sig in SIGNALS:  # no second interruption of the clean-up below
        signal.signal(sig, _ignore)
    _stop_children()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    signal.signal(interruption.signum, signal.SIG_DFL)
    os.kill(os.getpid(), interruption.signum)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [interruption.signum])
    os._exit(128 + interruption.signum)  # not reached unless the signal is blocked in a way we cannot undo
