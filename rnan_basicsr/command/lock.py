"""One run per experiment: an advisory ``flock`` on ``experiments/.<name>.lock`` (``results/.<name>.lock`` for
``basicsr test``), beside the folder BasicSR may rename, held for the whole run with the owner's pid, host, command
and log inside. The OS releases it however the process ends; the file is removed when the run ends, and one left by
a killed process is taken over with a warning. Which ``flock`` errors mean "held" and which "no locks on this
filesystem": docs/clusters.md.

Not the ``filelock`` package: it treats only ENOSYS as "no locks" (NFS without lockd answers ENOLCK) and then falls
back silently to a marker file that outlives a run killed on another node, and the refusal here must name the
holder's command and log, which this file records inside the lock.
"""
import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from os import path as osp

from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.script_util import process_is_running

#: ``flock`` errors that mean "another process holds the lock"
HELD = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES})
#: ``flock`` errors of a filesystem that has no locks
NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS})
#: the environment variable that turns the lock off (``RNAN_BASICSR_LOCK=off``) where the filesystem has none
LOCK_VARIABLE = 'RNAN_BASICSR_LOCK'


def locking_enabled():
    """False when ``RNAN_BASICSR_LOCK=off``; an InputError for a value other than ``on`` / ``off``."""
    value = os.environ.get(LOCK_VARIABLE, 'on').strip().lower()
    if value not in ('on', 'off'):
        raise InputError(f'the environment variable {LOCK_VARIABLE}={os.environ[LOCK_VARIABLE]!r} must be on or off '
                         '(off: run without the experiment lock, on filesystems without locks; see docs/clusters.md).')
    return value == 'on'


def lock_path(opt):
    """``<root>/experiments/.<name>.lock`` (training) or ``<root>/results/.<name>.lock`` (testing)."""
    folder = 'experiments' if opt['is_train'] else 'results'
    return osp.join(opt['root_path'], folder, f'.{opt["name"]}.lock')


def _describe(owner):
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(owner.get('started', 0)))
    return (f'process {owner.get("pid")} on {owner.get("host")} (started {when}: {owner.get("command")}; log: '
            f'{owner.get("log") or "not yet created"})')


class RunLock:
    """The lock file ``path`` of one experiment (or results folder), which messages call ``what`` (``experiment
    'RNAN_CAR_q10'``); ``command``, this run's command line, is written into it for the next run's message. Use
    :meth:`acquire`, then :meth:`release` (or ``with``)."""

    def __init__(self, path, what, command):
        self.path, self.what, self.command = path, what, command
        self._fd = None

    def _read_owner(self):
        try:
            with open(self.path, encoding='utf-8') as f:
                return json.loads(f.read() or '{}')
        except (OSError, ValueError):
            return {}

    def acquire(self):
        """Take the lock, or raise an InputError naming the running process and its log. Returns a warning to print
        when the lock of a process that is gone was taken over, else None."""
        try:
            os.makedirs(osp.dirname(self.path), exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as error:
                    os.close(fd)
                    if error.errno in NO_LOCKS:
                        with contextlib.suppress(OSError):  # the empty file this run just created
                            if os.path.getsize(self.path) == 0:
                                os.remove(self.path)
                        raise InputError(self._no_locks_message(error)) from None
                    if error.errno not in HELD:
                        raise
                    owner = self._read_owner()
                    raise InputError(f'{self.what} is already running: {_describe(owner)}. Wait for it to finish (or '
                                     'stop it), or give this run another name; nothing was written.') from None
                # the holder may have removed the file between our open and flock: lock the file that is there
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                        break
                os.close(fd)
        except OSError as error:
            raise InputError(f'cannot create the lock file {self.path!r}: {error.strerror or error}. Run basicsr in a '
                             'folder you can write to.') from None
        previous = self._read_owner()
        self._fd = fd
        self._write({'pid': os.getpid(), 'host': socket.gethostname(), 'started': time.time(),
                     'command': self.command, 'log': None})
        pid = previous.get('pid')
        if isinstance(pid, int) and pid != os.getpid():
            if previous.get('host') == socket.gethostname() and not process_is_running(pid):
                return (f'{self.what}: taking over the lock {self.path} of {_describe(previous)}, which is no longer '
                        'running (it was killed or crashed).')
        return None

    def _no_locks_message(self, error):
        folder = osp.dirname(self.path)
        return (f'cannot lock {self.path!r}: the filesystem of {folder!r} does not support file locks (flock: '
                f'{error.strerror or error}, errno {error.errno}; e.g. NFS without lockd, Lustre without -o flock, '
                'CIFS). Run basicsr in a folder on a filesystem with locks (a local disk), or set '
                f'{LOCK_VARIABLE}=off and make sure no other run uses {self.what} (see docs/clusters.md); nothing was '
                'written.')

    def _write(self, owner):
        self._owner = owner
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(owner).encode(), 0)
        os.fsync(self._fd)

    def set_log(self, log):
        """Record the run's log file, for the message a second run prints."""
        if self._fd is not None:
            self._write(dict(self._owner, log=log))

    def release(self):
        """Remove the lock file, then release the lock (a run that opened the old file sees it is gone and retries)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.remove(self.path)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        warning = self.acquire()
        if warning:
            print(f'rnan_basicsr: warning: {warning}', file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc):
        self.release()
