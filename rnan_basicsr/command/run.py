"""The order of a ``basicsr train|test`` run, owned by the command so that no mistake costs an earlier run.

1. read the option file once (safe loader, ``--force_yml``: :mod:`rnan_basicsr.options.loader`);
2. check everything BasicSR or this package will read (:mod:`.preflight`), building no folder;
3. let BasicSR lay the run out (``parse_options`` on the options read in 1), then check that its folders are writable;
4. lock the experiment or results folder (:mod:`.lock`), choose and check the training state to resume from;
5. run BasicSR's ``train_pipeline`` / ``test_pipeline`` with that state.

Mistakes in 1-4 are one line and exit 2 with nothing written; failures and interruptions in 5 are one line saying
where to continue (docs/training.md, "What a run checks" and "Resuming and crash safety").
"""
import basicsr.test as basicsr_test
import basicsr.train as basicsr_train
import basicsr.utils.options as basicsr_options
import contextlib
import copy
import functools
import io
import logging
import os
import re
import shlex
import sys
import yaml
from os import path as osp
from unittest import mock

from rnan_basicsr import compat
from rnan_basicsr.command.interrupt import Interrupted, signals_interrupt
from rnan_basicsr.command.lock import LOCK_VARIABLE, RunLock, lock_path, locking_enabled
from rnan_basicsr.command.preflight import check_layout, check_options
from rnan_basicsr.command.ranks import RanksEndTogether
from rnan_basicsr.compat.resume import load_resume_state
from rnan_basicsr.compat.training_loop import model_built_hook
from rnan_basicsr.models.resume_policy import newest_training_state
from rnan_basicsr.options.loader import apply_force_yml, read_option_file
from rnan_basicsr.utils.errors import InputError, RunError


def basicsr_argv(args):
    """The command line BasicSR's ``parse_options`` reads from ``sys.argv``; ``--force_yml`` is already applied."""
    argv = ['basicsr', '-opt', args.opt, '--launcher', args.launcher, '--local_rank', str(args.local_rank)]
    return argv + (['--auto_resume'] if args.auto_resume else []) + (['--debug'] if args.debug else [])


def lay_out(opt, args, root_path, is_train):
    """BasicSR's ``parse_options`` applied to ``opt`` (dist, rank, seed, phase, paths, debug name; it creates nothing
    and initialises torch.distributed for launchers), each dataset's key as ``datasets_key`` (its messages name it).
    Returns (the laid-out options, BasicSR's argparse namespace, what ``parse_options`` printed)."""

    class GivenOptions(yaml.SafeLoader):  # BasicSR's yaml.load returns the options read and checked, not the file's

        def get_single_data(self):
            return copy.deepcopy(opt)

    printed = io.StringIO()  # "Disable distributed.": shown once every check passed, not above an error
    with mock.patch.object(sys, 'argv', basicsr_argv(args)), contextlib.redirect_stdout(printed):
        with mock.patch.object(basicsr_options, 'ordered_yaml', lambda: (GivenOptions, None)):
            laid_out, basicsr_args = basicsr_options.parse_options(root_path, is_train=is_train)
    laid_out['root_path'] = root_path
    for key, dataset in laid_out['datasets'].items():  # our datasets' messages name it: datasets.test_1 (Kodak24)
        dataset['datasets_key'] = key
    return laid_out, basicsr_args, printed.getvalue()


#: what BasicSR's ``init_dist`` reads for each ``--launcher`` (a KeyError and a traceback when one is missing)
LAUNCHER_ENVIRONMENT = {'pytorch': ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
                        'slurm': ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')}


def check_launcher(args):
    """Refuse ``--launcher pytorch|slurm`` in a process its launcher did not start (no RANK / SLURM_PROCID...)."""
    missing = [key for key in LAUNCHER_ENVIRONMENT.get(args.launcher, ()) if key not in os.environ]
    if missing:
        start = ('torchrun --nproc_per_node=<processes> basicsr' if args.launcher == 'pytorch' else
                 'srun --ntasks=<processes> basicsr')
        raise InputError(f'--launcher {args.launcher}: {", ".join(missing)} not set, so this process was not started '
                         f'by {start.split()[0]}. Start it as {start} {args.command} -opt {shlex.quote(args.opt)} '
                         f'--launcher {args.launcher}, or leave --launcher out to run in one process.')


def parent_command():
    """The command line of this process's parent (``/proc/<ppid>/cmdline``), ``[]`` where it cannot be read."""
    try:
        with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:
            return [word.decode() for word in f.read().split(b'\0')[:-1]]
    except (OSError, UnicodeDecodeError):
        return []


def launcher_prefix(launcher):
    """The words before ``basicsr`` that started this process under ``launcher`` again, as far as they can be known
    (torchrun's command line or environment, Slurm's environment: docs/resuming.md, "Continuing after an interrupt");
    ``[]`` without a launcher."""
    env = os.environ
    if launcher == 'pytorch' and 'TORCHELASTIC_RUN_ID' in env:
        command = parent_command()
        program = osp.basename(sys.argv[0])  # the index of basicsr's path (or name) after the first word
        end = next((i for i, word in enumerate(command) if i and osp.basename(word) == program), None)
        if end is not None and any('torchrun' in w or 'torch.distributed.run' in w for w in command[:end]):
            words = command[:end + 1]
            if osp.basename(words[0]).startswith('python') and osp.basename(words[1]) == 'torchrun':
                words = ['torchrun'] + words[2:]
            return words
        world, local = int(env.get('WORLD_SIZE', 1)), int(env.get('LOCAL_WORLD_SIZE', env.get('WORLD_SIZE', 1)))
        nodes = max(1, world // max(local, 1))
        return ['torchrun', *(['--standalone'] if nodes == 1 else []), '--nnodes', str(nodes), '--nproc_per_node',
                str(local), 'basicsr']
    if launcher == 'slurm' and 'SLURM_NTASKS' in env:
        nodes = ['--nodes', env['SLURM_NNODES']] if 'SLURM_NNODES' in env else []
        return ['srun', *nodes, '--ntasks', env['SLURM_NTASKS'], 'basicsr']
    return []


def _continue_hint(args):
    """The command line that continues this training run, with the launcher that started it."""
    words = launcher_prefix(args.launcher) or ['basicsr']
    words += ['train', '-opt', args.opt, '--auto_resume'] + (['--debug'] if args.debug else [])
    words += ['--launcher', args.launcher] if args.launcher != 'none' else []
    words += ['--force_yml', *args.force_yml] if args.force_yml else []
    return shlex.join(words)


class _Progress:
    """How far the run got: ``started`` / ``finished`` (the pipeline), and the iteration training has reached (read
    from the model's per-iteration learning-rate update)."""

    def __init__(self):
        self.started = self.finished = False
        self.iteration = None
        self.on_model_built = None
        self.ranks = None  # the other ranks of a distributed run, told when this one stops

    def interrupted(self, message, status):
        """Print the one line of an interruption (and tell the other ranks); returns ``status``."""
        line = f'basicsr: {message}'
        if self.ranks is not None and self.ranks.ended_by_another_rank:  # e.g. torchrun's SIGTERM after that line
            return status
        print(line, file=sys.stderr, flush=True)
        if self.ranks is not None:
            self.ranks.stop(line, status)
        return status

    def watch(self, model):
        """Called by :func:`~rnan_basicsr.compat.training_loop.model_built_hook` on the model BasicSR built."""
        update = model.update_learning_rate

        @functools.wraps(update)
        def update_learning_rate(current_iter, *args, **kwargs):
            self.iteration = current_iter
            return update(current_iter, *args, **kwargs)

        model.update_learning_rate = update_learning_rate
        if self.on_model_built is not None:
            self.on_model_built()


@contextlib.contextmanager
def _options_given_to_basicsr(opt, basicsr_args, resume_state):
    """``train_pipeline`` / ``test_pipeline`` get ``opt`` from ``parse_options`` instead of reading the file, and
    ``train_pipeline`` the training state already chosen and checked (in :func:`_run_pipeline`)."""
    saved = basicsr_train.parse_options, basicsr_test.parse_options, basicsr_train.load_resume_state
    basicsr_train.parse_options = basicsr_test.parse_options = lambda root_path, is_train=True: (opt, basicsr_args)
    basicsr_train.load_resume_state = lambda options: resume_state
    try:
        yield
    finally:
        basicsr_train.parse_options, basicsr_test.parse_options, basicsr_train.load_resume_state = saved


class _NoNegativeETA(logging.Filter):
    """BasicSR's ``MessageLogger`` counts ``total_iter - current_iter - 1`` iterations left, one too few, so the last
    iteration's line can read ``eta: -1 day, 23:59:59`` (iterations of a second or more); it writes 0:00:00 there."""

    def filter(self, record):
        if isinstance(record.msg, str) and '[eta: -' in record.msg:
            record.msg = re.sub(r'\[eta: -\d+ days?, [\d:]+,', '[eta: 0:00:00,', record.msg)
        return True


def _log_file():
    """The file BasicSR's root logger writes to, once ``train_pipeline`` / ``test_pipeline`` has set it up."""
    handlers = logging.getLogger('basicsr').handlers
    return next((h.baseFilename for h in handlers if isinstance(h, logging.FileHandler)), None)


def _run_pipeline(opt, basicsr_args, args, is_train, progress, printed):
    # the last check: the state to resume from must fit the options (refused in one line, before anything is written);
    # then what BasicSR's parse_options printed ("Disable distributed."), which is not to stand above an error
    resume_state = load_resume_state(opt) if is_train else None
    print(printed, end='', flush=True)
    eta = _NoNegativeETA()
    logging.getLogger('basicsr').addFilter(eta)
    progress.started = True
    try:
        try:
            with _options_given_to_basicsr(opt, basicsr_args, resume_state), model_built_hook(progress.watch):
                (basicsr_train.train_pipeline if is_train else basicsr_test.test_pipeline)(opt['root_path'])
            progress.finished = True
        except (RunError, InputError) as error:  # a write that failed; an image damaged since the pre-flight
            if not is_train:
                raise
            state = newest_training_state(opt['path']['training_states'])
            last = f'the last complete state is {state}' if state else 'no training state was written yet'
            at = f' at iteration {progress.iteration}' if progress.iteration is not None else ''
            path = getattr(error, 'path', None)
            fix = ('Free space (or raise the file-size limit, or fix the permissions) and continue' if path else
                   'Then continue')  # a write that failed names its file; other errors say their own fix
            message = f'{error} Training stopped{at}; {last}. {fix} with: {_continue_hint(args)}'
            raise (RunError(message, path=path) if isinstance(error, RunError) else InputError(message)) from None
    except Interrupted as interrupted:  # also while a RunError above was being reported
        if is_train:
            where = f'at iter {progress.iteration}' if progress.iteration is not None else 'before training started'
            state = newest_training_state(opt['path']['training_states'])
            last = f'last complete state {state}' if state else 'no complete training state yet'
            message = f'interrupted {where}; {last}; continue with: {_continue_hint(args)}'
        else:
            message = (f'interrupted while testing; the results in {opt["path"]["results_root"]} are incomplete; run '
                       'the same command again to test anew')
        return progress.interrupted(message, interrupted.status)
    finally:
        logging.getLogger('basicsr').removeFilter(eta)
    return 0


def run(args):
    """Run ``basicsr train|test`` for the parsed command line ``args`` in the current directory; returns the exit
    status (0, or 130 / 143 when interrupted). Raises InputError / RunError, which ``cli`` prints as one line.
    One SIGINT / SIGTERM handler covers the whole run and raises once, so an interruption during the pipeline is
    reported by the pipeline (where to continue), never as "nothing was written"."""
    progress = _Progress()
    with signals_interrupt():
        try:
            return _checked_run(args, progress)
        except Interrupted as interrupted:  # outside the pipeline, which reports its own interruptions
            if not progress.started:
                message = 'interrupted before the run started; nothing was written.'
            elif progress.finished:
                message = 'interrupted after the run had finished; its output is complete.'
            else:
                message = 'interrupted while the run was stopping; see the log for how far it got.'
            return progress.interrupted(message, interrupted.status)


def _checked_run(args, progress):
    compat.apply()  # the command's fixes to BasicSR (checkpoints, options, resume...); importing the plugin has none
    is_train = args.command == 'train'
    check_launcher(args)
    options = apply_force_yml(read_option_file(args.opt), args.force_yml)
    check_options(options, args.opt, is_train=is_train)
    opt, basicsr_args, printed = lay_out(options.opt, args, os.getcwd(), is_train)
    with RanksEndTogether(opt) as progress.ranks:
        return _locked_run(opt, basicsr_args, args, is_train, progress, printed)


def _locked_run(opt, basicsr_args, args, is_train, progress, printed):
    check_layout(opt)
    what = f'experiment {opt["name"]!r}' if is_train else f'the test results {opt["name"]!r}'
    lock = None
    if opt['rank'] == 0 and locking_enabled():  # rank 0 holds the lock and writes; the other processes follow it
        lock = RunLock(lock_path(opt), what, ' '.join(shlex.quote(a) for a in ['basicsr', *sys.argv[1:]]))
    elif opt['rank'] == 0:
        print(f'rnan_basicsr: warning: {LOCK_VARIABLE}=off: {what} is not locked; make sure no other run uses it.',
              file=sys.stderr, flush=True)
    with lock or contextlib.nullcontext():
        if lock is not None:
            lock.set_log(osp.join(opt['path']['log'], f'{args.command}_{opt["name"]}_<time>.log'))
            progress.on_model_built = lambda: lock.set_log(_log_file())
        return _run_pipeline(opt, basicsr_args, args, is_train, progress, printed)
