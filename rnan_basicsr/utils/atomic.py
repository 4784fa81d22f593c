"""Writing files so that a crash at any moment leaves either the old file or the complete new one."""
import contextlib
import io
import os
import tempfile
import torch
from os import path as osp

from rnan_basicsr.utils.errors import InputError


def fsync_folder(folder):
    """Make renames and removals in ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(folder, what):
    """Raise an InputError naming ``what`` and the system's reason if no file can be created in ``folder`` (missing,
    read-only, no permission): a file is created there and removed at once."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f'{what}: cannot write in {folder!r}: {error.strerror or error}.') from None


def temp_path_for(path):
    """The temporary name :func:`atomic_write` writes before renaming: ``.<name>.tmp<pid>`` beside ``path``."""
    return osp.join(osp.dirname(osp.abspath(path)), f'.{osp.basename(path)}.tmp{os.getpid()}')


@contextlib.contextmanager
def atomic_write(path, mode='wb', **open_kwargs):
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` in one rename.

    The temporary file is flushed and fsynced before the rename (atomic on POSIX and Windows), and the folder entry
    is fsynced where the OS allows. If the ``with`` block raises, or the process dies, ``path`` keeps its old
    content (or stays absent); only a stray ``.<name>.tmp<pid>`` file can remain after a kill (``--auto_resume``
    removes those), and none after an exception.

    Yields:
        file: opened with ``mode`` (``'wb'``, ``'w'``...) and ``open_kwargs``.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    fsync_folder(folder)


def atomic_torch_save(obj, path):
    """``torch.save`` that never leaves a partial file at ``path`` (see :func:`atomic_write`).

    The object is serialised in memory first and then written: a full disk or a file-size limit then raises an
    OSError with the system's reason (ENOSPC, EFBIG), where torch's zip writer would only report a file position.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())
