"""The two kinds of error the ``basicsr`` command and the scripts print as one line instead of a traceback."""
import contextlib
import re

#: exit status of the ``basicsr`` command and of the scripts for an :class:`InputError`
EXIT_INPUT_ERROR = 2
#: exit status for a :class:`RunError`
EXIT_RUN_ERROR = 1
#: how torch's DataLoader words an exception of a worker when it raises it again in the main process
_FROM_WORKER = re.compile(r'^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback')


class InputError(ValueError):
    """Bad input from the user (an option file, a data folder, an LMDB, a checkpoint), printed as one line naming the
    file, key or value and the fix (exit status 2). ``key``: the option at fault as a key path, absolute or relative
    to the section being checked (see :func:`within`); the ``basicsr`` command turns it into ``file:line:column``.
    Raised again by torch from a DataLoader worker, the message is cut back to the worker's own line."""

    def __init__(self, message, key=()):
        if isinstance(message, str) and _FROM_WORKER.match(message):
            message = message.rstrip().splitlines()[-1].partition(': ')[2]
        super().__init__(message)
        self.key = tuple(key)


@contextlib.contextmanager
def within(*section):
    """Key an :class:`InputError` raised inside from ``section``: a check of one section (a dataset, ``train``)
    names keys relative to it, and the caller, which knows where the section is, prefixes them."""
    try:
        yield
    except InputError as error:
        error.key = tuple(section) + error.key
        raise


class RunError(RuntimeError):
    """A run cannot go on for a reason outside its options (a checkpoint that cannot be written: no space,
    permission), printed as one line, exit status 1; ``path``: the file concerned, or None."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path
