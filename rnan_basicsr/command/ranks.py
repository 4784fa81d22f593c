"""Several ranks end together: when one rank stops, every other rank ends within seconds with the same one line and
exit status, instead of waiting in its next collective for the process group's timeout (docs/clusters.md).

The rank that stops first publishes its line in the launcher's TCPStore (torchrun's agent, or rank 0 under
``--launcher slurm``) at ``MASTER_ADDR:MASTER_PORT``. Every rank watches that key from a thread, since its main
thread may be blocked in a collective Python cannot interrupt; the publisher waits (seconds at most) until the others
have read the line, since under slurm the store lives in rank 0's process.
"""
import contextlib
import datetime
import json
import multiprocessing
import os
import sys
import threading
import time

from rnan_basicsr.utils.errors import EXIT_INPUT_ERROR, EXIT_RUN_ERROR, InputError, RunError

_KEY = 'rnan_basicsr/stop'
_FIRST = 'rnan_basicsr/stop_first'
_READ = 'rnan_basicsr/stop_read'
#: how often a rank looks for the line of a rank that stopped, how long the publisher waits for the others to read
#: it, and how long they then give the publisher to end first
POLL_SECONDS, READ_TIMEOUT_SECONDS, GRACE_SECONDS = 0.5, 10, 5


class RanksEndTogether:
    """The watch over the other ranks of one distributed run (nothing when ``opt['dist']`` is false or 1 rank), a
    context manager around the run; :meth:`stop` is called by the run with its final line."""

    def __init__(self, opt):
        self.rank, self.world_size = opt['rank'], opt['world_size']
        self.store, self._thread, self._done, self._stopping = None, None, threading.Event(), False
        self.ended_by_another_rank = False  # its line is printed: this rank says nothing more
        if not opt.get('dist') or self.world_size < 2:
            return
        from torch.distributed import TCPStore

        try:  # the launcher's store, as one more client (torch has no public accessor for the group's own)
            self.store = TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), is_master=False,
                                  timeout=datetime.timedelta(seconds=60))
        except (KeyError, ValueError, RuntimeError) as error:
            print(f'rnan_basicsr: warning: cannot reach the launcher\'s store ({error}); if one rank stops, the others '
                  'wait for the process-group timeout.', file=sys.stderr, flush=True)
            return
        self._thread = threading.Thread(target=self._watch, name='rnan_basicsr-ranks', daemon=True)
        self._thread.start()

    def _watch(self):
        try:
            while not self._done.wait(POLL_SECONDS):
                if not self.store.check([_KEY]):
                    continue
                stop = json.loads(self.store.get(_KEY))
                if stop['rank'] == self.rank or self._stopping:  # this rank stops by itself and says why
                    return
                self.ended_by_another_rank = True
                print(stop['line'], file=sys.stderr, flush=True)
                self.store.add(_READ, 1)
                self._let_the_publisher_end_first()
                for child in multiprocessing.active_children():  # DataLoader workers
                    with contextlib.suppress(OSError):
                        child.kill()
                os._exit(stop['status'])  # the main thread may be stuck in a collective: end the process here
        except RuntimeError:  # the store is gone (its host ended normally): nothing left to watch
            return

    def _let_the_publisher_end_first(self):
        """Wait until the rank that stopped has printed its line and ended (under slurm its store is gone then), or
        ``GRACE_SECONDS``: a launcher such as torchrun then reports that rank as the cause, not this one."""
        deadline = time.monotonic() + GRACE_SECONDS
        with contextlib.suppress(RuntimeError):
            while time.monotonic() < deadline:
                self.store.check([_KEY])
                time.sleep(0.1)

    def stop(self, line, status):
        """This rank ends with ``line`` (already printed by the caller) and ``status``: tell the other ranks, unless one
        of them stopped first, and wait until they have read it."""
        self._stopping = True
        if self.store is None:
            return
        try:
            if self.store.add(_FIRST, 1) != 1:
                return
            self.store.set(_KEY, json.dumps({'rank': self.rank, 'line': line, 'status': status}))
            deadline = time.monotonic() + READ_TIMEOUT_SECONDS
            while self.store.add(_READ, 0) < self.world_size - 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        except RuntimeError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, (InputError, RunError)):
            status = EXIT_INPUT_ERROR if issubclass(exc_type, InputError) else EXIT_RUN_ERROR
            self.stop(f'basicsr: error: {exc}', status)
        elif exc_type is not None and issubclass(exc_type, Exception):
            self.stop(f'basicsr: error: rank {self.rank} failed ({exc_type.__name__}: {exc}); see its output.',
                      EXIT_RUN_ERROR)
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        return False
