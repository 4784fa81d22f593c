"""Helpers shared by the scripts: output folder checks, a thread pool with a progress bar, and the one-line error
exit. All-or-nothing output folders are :mod:`rnan_basicsr.utils.staging`'s."""
import itertools
import os
import signal
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from os import path as osp
from tqdm import tqdm

from rnan_basicsr.utils.errors import EXIT_INPUT_ERROR, EXIT_RUN_ERROR, InputError, RunError
# the tools, the lock and resuming import these from here
from rnan_basicsr.utils.staging import process_is_running, staged_folder  # noqa: F401


def check_new_output_folder(path, overwrite, inputs=(), flag='--output'):
    """Refuse an output folder that exists (unless ``overwrite``), is a file, or overlaps one of ``inputs``: for
    the folders a script builds whole (:func:`staged_folder`), where an existing one is replaced, input and all."""
    if osp.exists(path) and not osp.isdir(path):
        raise InputError(f'{flag} {path!r} exists and is not a folder; choose another path.')
    if osp.exists(path) and not overwrite:
        raise InputError(f'{flag} {path!r} already exists; pass --overwrite to replace it, or choose another path.')
    target = osp.realpath(path)
    for source in inputs:
        source = osp.realpath(source)
        if target == source or target.startswith(source + os.sep) or source.startswith(target + os.sep):
            raise InputError(f'{flag} {path!r} overlaps the input folder {source!r}; write somewhere else (replacing '
                             'it would delete the input).')


def write_file(path, data):
    """Write the bytes ``data`` to ``path`` in a folder being built (:func:`staged_folder`), creating its folder.

    Raises:
        RunError: the system's reason (no space left, file too large for ``ulimit -f``, read-only...) and the path.
    """
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
    except OSError as error:
        raise RunError(f'cannot write {path!r}: {error.strerror or error}. The unfinished output is removed; fix '
                       'that and run again.', path=path) from None


def parallel_map(func, items, n_thread, desc, unit='image'):
    """Yield ``func(item)`` for each of ``items`` in order, computed on ``n_thread`` threads, with a progress bar.

    At most ``4 * n_thread`` items are in flight, so memory stays bounded however many items there are. The first
    exception (in input order) is re-raised after the pending work is cancelled.
    """
    with tqdm(total=len(items), unit=unit, desc=desc) as pbar:
        if n_thread <= 1:
            for item in items:
                result = func(item)
                pbar.update(1)
                yield result
            return
        with ThreadPoolExecutor(max_workers=n_thread) as pool:
            remaining = iter(items)
            window = deque(pool.submit(func, item) for item in itertools.islice(remaining, 4 * n_thread))
            try:
                while window:
                    result = window.popleft().result()
                    for item in itertools.islice(remaining, 1):
                        window.append(pool.submit(func, item))
                    pbar.update(1)
                    yield result
            finally:
                for future in window:
                    future.cancel()


def add_thread_argument(parser, default=None):
    """``--n_thread`` (BasicSR's spelling)."""
    default = default or min(8, os.cpu_count() or 1)
    parser.add_argument('--n_thread', type=int, default=default, help=f'number of worker threads (default: {default})')


def _terminate(signum, frame):
    raise KeyboardInterrupt(signum)  # SIGTERM unwinds as Ctrl-C does: unfinished outputs are removed on the way


def run_main(prog, func, args):
    """Call ``func(args)`` and return its exit status (the int it returns, else 0).

    An :class:`InputError` prints ``<prog>: error: <message>`` and returns 2; a :class:`RunError` the same with 1, and
    so does an OSError naming a file (the system's reason and the path). Ctrl-C and SIGTERM print one line and return
    130 / 143.
    """
    handler = None
    try:
        handler = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        status = func(args)
    except (InputError, RunError) as error:
        print(f'{prog}: error: {error}', file=sys.stderr, flush=True)
        return EXIT_INPUT_ERROR if isinstance(error, InputError) else EXIT_RUN_ERROR
    except OSError as error:
        if error.filename is None:
            raise
        print(f'{prog}: error: {error.filename!r}: {error.strerror or error}', file=sys.stderr, flush=True)
        return EXIT_RUN_ERROR
    except KeyboardInterrupt as interrupt:
        signum = interrupt.args[0] if interrupt.args else signal.SIGINT
        print(f'{prog}: interrupted by {signal.Signals(signum).name}; nothing half-written is left (unfinished '
              'outputs are removed).', file=sys.stderr, flush=True)
        return 128 + signum
    finally:
        if handler is not None and signal.getsignal(signal.SIGTERM) is _terminate:
            signal.signal(signal.SIGTERM, handler)
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def differing_texts(expected):
    """The paths of ``expected`` (``{path: text}``, what a generator writes) missing on disk or with other text."""
    differ = []
    for path, text in expected.items():
        try:
            with open(path, encoding='utf-8') as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            differ.append(path)
    return differ
