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
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
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


@contextlib.contextmanager
def atomic_write(path, mode='wb', **open_kwargs):
    """Yield a temporary file ``.<name>.tmp<pid>`` beside ``path``, opened with ``mode`` and ``open_kwargs``; on
    success it is flushed, fsynced and renamed to ``path`` (the folder fsynced where the OS allows). If the block
    raises, or the process dies, ``path`` keeps its old content (or stays absent); only a stray temporary file can
    remain after a kill (``--auto_resume`` removes those)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.tmp{os.getpid()}')
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
    """``torch.save`` that never leaves a partial file at ``path``. The object is serialised in memory first, so a
    full disk or a file-size limit raises an OSError with the system's reason (ENOSPC, EFBIG), where torch's zip
    writer would only report a file position."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())
