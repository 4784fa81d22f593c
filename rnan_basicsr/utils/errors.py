"""The two kinds of error the ``basicsr`` command and the scripts print as one line instead of a traceback."""

#: exit status of the ``basicsr`` command and of the scripts for an :class:`InputError`
EXIT_INPUT_ERROR = 2
#: exit status for a :class:`RunError`
EXIT_RUN_ERROR = 1


class InputError(ValueError):
    """Bad input from the user: an option file, a data folder, an LMDB, a checkpoint.

    The message must name the offending file, key or value and say how to fix it. The ``basicsr``
    command prints it as one line and exits with status 2, without a traceback; library callers can
    catch it as a ``ValueError``.
    """


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
