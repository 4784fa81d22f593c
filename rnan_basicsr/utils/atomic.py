"""Writing files so that a crash at any moment leaves either the old file or the complete new one."""
import os
import torch
from os import path as osp


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


def temp_path_for(path):
    """The temporary name :func:`atomic_torch_save` writes before renaming: ``.<name>.tmp<pid>`` beside ``path``."""
    return osp.join(osp.dirname(osp.abspath(path)), f'.{osp.basename(path)}.tmp{os.getpid()}')


def atomic_torch_save(obj, path):
    """``torch.save`` that never leaves a partial file at ``path``.

    The object is written to a temporary file in the same folder, flushed and fsynced, then renamed over ``path``
    (an atomic operation on POSIX and Windows); the folder entry is fsynced where the OS allows. A crash at any
    moment leaves either the old file or the complete new one, plus at most a stray ``.<name>.tmp<pid>`` file
    (``--auto_resume`` removes those).
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    fsync_folder(folder)
