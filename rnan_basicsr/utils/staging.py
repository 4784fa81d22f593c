"""All-or-nothing output folders (LMDB, sub-images, generated LQ): built under a temporary sibling name, swapped in
by renames, and recovered at the next run whatever moment a kill struck (the stages ``tmp`` / ``new`` / ``old`` and
what recovery does with each: docs/reliability.md, "Interrupted data preparation").

The siblings of ``<parent>/<name>`` are ``<parent>/.<name>.<stage>.<host>.<pid><suffix>``, named and parsed only by
:func:`staged_name` and :func:`parse_staged_name`. The host is in the name because output folders may be on a
filesystem that several machines share: siblings of another host are never touched, nor those of a running process.
"""
import contextlib
import os
import re
import shutil
import socket
from os import path as osp

from rnan_basicsr.utils.atomic import check_writable, fsync_folder
from rnan_basicsr.utils.errors import InputError

STAGES = ('tmp', 'new', 'old')


def _host():
    # hostnames are letters, digits, '-' and '.'; anything else is replaced so that the name stays parseable
    return re.sub(r'[^A-Za-z0-9.-]', '-', socket.gethostname()) or 'localhost'


def staged_name(path, stage, suffix='', pid=None, host=None):
    """``<parent>/.<name>.<stage>.<host>.<pid><suffix>``: the sibling of ``path`` at ``stage`` (:data:`STAGES`) of
    the process ``pid`` (default: this one) on ``host`` (default: this machine)."""
    parent, name = osp.split(osp.abspath(path))
    return osp.join(parent, f'.{name}.{stage}.{host or _host()}.{os.getpid() if pid is None else pid}{suffix}')


def parse_staged_name(path, entry, suffix=''):
    """``(stage, host, pid)`` if the folder entry ``entry`` is a sibling :func:`staged_name` makes for ``path``, else
    None."""
    name = re.escape(osp.basename(osp.abspath(path)))
    match = re.match(rf'^\.{name}\.(tmp|new|old)\.([A-Za-z0-9.-]+)\.(\d+){re.escape(suffix)}$', entry)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


def process_is_running(pid):
    """True if a process ``pid`` runs on this machine (this one included; another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _remove(path):
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _swap_in(complete, path, suffix):
    """Make the complete folder ``complete`` be ``path``: the previous ``path`` goes aside as this process's ``old``
    first and is deleted last, so a kill at any step leaves a complete copy that :func:`recover_staged_folder`
    finds."""
    parent = osp.dirname(path)
    old = None
    if osp.lexists(path):
        old = staged_name(path, 'old', suffix)
        os.rename(path, old)
    os.rename(complete, path)
    fsync_folder(parent)
    if old is not None:
        _remove(old)


def recover_staged_folder(path, suffix=''):
    """Finish or undo what interrupted runs of this machine left beside ``path``, saying so in one line each: a
    ``tmp`` is deleted (incomplete); a ``new`` replaces ``path``; an ``old`` is deleted when ``path`` exists, else it
    becomes ``path`` again. Returns what was done, one sentence per sibling."""
    parent = osp.dirname(osp.abspath(path))
    path = osp.abspath(path)
    found = {stage: [] for stage in STAGES}
    for entry in sorted(os.listdir(parent)) if osp.isdir(parent) else []:
        parsed = parse_staged_name(path, entry, suffix)
        if parsed is None:
            continue
        stage, host, pid = parsed
        sibling = osp.join(parent, entry)
        if host != _host():
            print(f'Left {sibling} alone: it belongs to process {pid} on host {host} (delete it by hand once that '
                  'run is over).', flush=True)
        elif not process_is_running(pid):
            found[stage].append((sibling, pid))
    done = []
    for sibling, pid in found['tmp']:
        _remove(sibling)
        done.append(f'Removed {sibling}, left by an interrupted run (process {pid}, no longer running).')
    for sibling, pid in found['new']:
        _swap_in(sibling, path, suffix)
        done.append(f'Moved {sibling}, completed by an interrupted run (process {pid}, no longer running), to '
                    f'{path}.')
    for sibling, pid in found['old']:
        if osp.lexists(path):
            _remove(sibling)
            done.append(f'Removed {sibling}, the copy an interrupted run (process {pid}) had already replaced.')
        else:
            os.rename(sibling, path)
            done.append(f'Restored {path} from {sibling}, moved aside by an interrupted run (process {pid}).')
    for line in done:
        print(line, flush=True)
    return done


@contextlib.contextmanager
def staged_folder(path, overwrite=False, suffix=''):
    """Build a folder under a temporary sibling name; it becomes ``path`` only if the block succeeds. What
    interrupted runs left beside ``path`` is recovered first. Yields the temporary path (``tmp``, not created; it ends
    with ``suffix``, e.g. ``.lmdb`` where a writer needs it). On an exception it is deleted and ``path`` is untouched
    (a parent that cannot be created or written to is an InputError before anything is done); on success it is
    renamed ``new``, then swapped in for ``path`` (an existing ``path`` only with ``overwrite``)."""
    path = osp.abspath(path)
    parent = osp.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise InputError(f'cannot create the folder {parent!r} of {path!r}: {error.strerror or error}.') from None
    check_writable(parent, f'{path!r}')
    recover_staged_folder(path, suffix)
    if osp.exists(path) and not overwrite:
        raise InputError(f'{path!r} already exists; pass --overwrite to replace it.')
    tmp = staged_name(path, 'tmp', suffix)
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    new = staged_name(path, 'new', suffix)
    os.rename(tmp, new)
    _swap_in(new, path, suffix)
