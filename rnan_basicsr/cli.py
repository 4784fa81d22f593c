"""The ``basicsr`` command: ``basicsr train -opt FILE`` and ``basicsr test -opt FILE``, with the flags of BasicSR's
``train.py`` / ``test.py``, run in the current directory (the order of a run: :mod:`rnan_basicsr.command.run`).
"""
import argparse
import importlib.metadata
import os
import sys

from rnan_basicsr.utils.errors import EXIT_INPUT_ERROR  # noqa: F401  (the exit status of run_main, for callers)
from rnan_basicsr.utils.script_util import run_main
from rnan_basicsr.version import __version__


def _version_string():
    def version_of(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return 'not installed'

    return f'rnan_basicsr {__version__} (basicsr {version_of("basicsr")}, torch {version_of("torch")})'


def _local_rank_default():
    try:
        return int(os.environ.get('LOCAL_RANK', 0))
    except ValueError:
        return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog='basicsr',
        description='Train or test BasicSR models, with RNAN (rnan_basicsr) registered. Runs in the current '
        'directory: experiments/, results/ and tb_logger/ are created here.')
    parser.add_argument('--version', action='version', version=_version_string())
    commands = parser.add_subparsers(dest='command', metavar='{train,test}')
    commands.required = True
    for name, summary in (('train', 'train a model from an option YAML (BasicSR train.py)'),
                          ('test', 'test a model on the datasets of an option YAML (BasicSR test.py)')):
        sub = commands.add_parser(name, help=summary, description=f'{summary[0].upper()}{summary[1:]}.')
        sub.add_argument('-opt', '--opt', dest='opt', required=True, metavar='FILE',
                         help='path to the option YAML file')
        sub.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                         help='job launcher (default: none)')
        sub.add_argument('--auto_resume', action='store_true',
                         help='resume from the newest complete state in experiments/<name>/training_states')
        sub.add_argument('--debug', action='store_true', help='debug mode: name prefixed by debug_, frequent logs')
        sub.add_argument('--local_rank', '--local-rank', dest='local_rank', type=int, default=_local_rank_default(),
                         help='local process rank, set by launchers (default: $LOCAL_RANK or 0)')
        sub.add_argument('--force_yml', nargs='+', default=None, metavar='KEY=VALUE',
                         help='set options (any key of docs/options.md), e.g. train:total_iter=1000 '
                         'train:mixed_precision=bf16')
    return parser


def main(argv=None):
    from rnan_basicsr.command.interrupt import end_by_signal
    from rnan_basicsr.command.run import run

    args = build_parser().parse_args(argv)
    status = run_main('basicsr', run, args)
    end_by_signal()  # after Ctrl-C / SIGTERM: end by the signal, as a Unix tool does (the shell sees 130 / 143)
    return status


if __name__ == '__main__':
    sys.exit(main())
