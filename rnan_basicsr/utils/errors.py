#: exit status of the ``basicsr`` command and of the scripts for an :class:`InputError`
EXIT_INPUT_ERROR = 2


class InputError(ValueError):
    """Bad input from the user: an option file, a data folder, an LMDB, a checkpoint.

    The message must name the offending file, key or value and say how to fix it. The ``basicsr``
    command prints it as one line and exits with status 2, without a traceback; library callers can
    catch it as a ``ValueError``.
    """
