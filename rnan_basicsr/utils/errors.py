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
    """Bad input from the user: an option file, a data folder, an LMDB, a checkpoint.

    The message must name the offending file, key or value and say how to fix it. The ``basicsr``
    command prints it as one line and exits with status 2, without a traceback; library callers can
    catch it as a ``ValueError``.

    Attributes:
        key (tuple): The option the message is about, as a key path (``('datasets', 'train', 'gt_size')``), or
            relative to the section the raiser checks (``('gt_size', )``); empty when no single key is at fault.
            The ``basicsr`` command turns it into the ``file:line:column`` that starts the line.

    An InputError raised in a DataLoader worker (a damaged image) is raised again in the main process by torch with
    the worker's traceback as its message; that message is cut back to the worker's own line here.
    """

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
    """A run cannot go on for a reason outside its options: a checkpoint that cannot be written (no space, file too
    large, permission). Printed as one line, exit status 1. (Another run holding the experiment's lock is an
    :class:`InputError`: the user runs the command again later or under another name.)

    Attributes:
        path (str | None): The file concerned, when there is one.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path
