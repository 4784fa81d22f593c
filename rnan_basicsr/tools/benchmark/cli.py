"""The command line of ``scripts/benchmark.py``: which measurements to run, in which order, and the report."""
import argparse
import dataclasses
import datetime
import json
import shutil
import tempfile
import time
import torch
from os import path as osp

from rnan_basicsr import precision
from rnan_basicsr.tools.benchmark import report
from rnan_basicsr.tools.benchmark.fixtures import QUALITY_STEPS
from rnan_basicsr.tools.benchmark.runner import (MEASUREMENT_TIMEOUT, Runner, device_free_bytes, direct_attention_bytes,
                                                 machine_description)
from rnan_basicsr.tools.benchmark.spec import (CONFIGS, CPU_SETTINGS, GPU_SETTINGS, PRECISION_SIZE, SWITCH_WORDS,
                                               VARIANTS, Measurement, Switches)


def build_parser():
    import rnan_basicsr.tools.benchmark as package

    parser = argparse.ArgumentParser(prog='benchmark.py', description=package.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    parser.add_argument('--configs', nargs='+', choices=sorted(CONFIGS), default=['grey', 'colour'])
    parser.add_argument('--repeats', type=int, default=2,
                        help='the timed runs of a measurement last at least this many calls (default 2)')
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto (default)')
    parser.add_argument('--no_train', action='store_true', help='skip the training-step rows')
    parser.add_argument('--no_tiling', action='store_true', help='skip the tiled-inference rows')
    parser.add_argument('--no_variants', action='store_true',
                        help='skip the floor / ours / direct rows')
    parser.add_argument('--no_precision', action='store_true',
                        help='skip the precision / speed switch rows')
    parser.add_argument('--no_data', action='store_true', help='skip the data pipeline rows')
    parser.add_argument('--data_rounds', type=int, default=4,
                        help='interleaved rounds of the data measurement')
    parser.add_argument('--data_samples', type=int, default=100, help='samples per dataset and round')
    parser.add_argument('--no_compile', action='store_true', help='skip the torch.compile rows')
    parser.add_argument('--switches', nargs='+', metavar='SWITCHES', type=switches_argument,
                        help='measure these switch rows instead of the default ones, each a "+"-joined set of '
                        f'{", ".join(SWITCH_WORDS)} (e.g. channels_last bf16+channels_last compile); the float32 '
                        'row, the reference of the quality columns, is always measured first')
    parser.add_argument('--precision_size', type=int, default=PRECISION_SIZE,
                        help='image side of the switch rows')
    parser.add_argument('--quality_steps', type=int, default=QUALITY_STEPS,
                        help='training steps of the quality net')
    parser.add_argument('--tf32', action='store_true', help='allow TF32 in the float32 rows (GPU; default: off)')
    parser.add_argument('--timeout', type=float, default=MEASUREMENT_TIMEOUT,
                        help=f'seconds per measurement before it is reported as timed out (default '
                        f'{MEASUREMENT_TIMEOUT})')
    parser.add_argument('--json', default='benchmark_results.json', help='where to write all measurements')
    return parser


def switches_argument(text):
    """argparse type of ``--switches``: a bad word is a usage error (exit 2) naming it."""
    try:
        return Switches.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def switch_settings(args, device):
    """The switch rows to measure: float32 first (the quality reference), each setting once."""
    chosen = [Switches()] + args.switches if args.switches else (GPU_SETTINGS if device.type == 'cuda' else
                                                                 CPU_SETTINGS)
    settings = []
    for switches in chosen:
        switches = switches if switches.tf32 else dataclasses.replace(switches, tf32=args.tf32)
        if switches not in settings and not (args.no_compile and switches.compile):
            settings.append(switches)
    return settings


def measure_variants(args, runner, base, workdir, free):
    """The forward rows (every config and size, floor / ours / direct); returns (rows, exact output paths)."""
    rows, exact_paths = [], {}
    for config in [] if args.no_variants else args.configs:
        for size in args.sizes:
            row = dict(config=config, size=size)
            for variant in VARIANTS:
                spec = dataclasses.replace(base, kind='forward', config=config, size=size, variant=variant)
                if size >= 256 or (variant == 'direct' and size >= 128):
                    spec = dataclasses.replace(spec, repeats=1)  # long calls: the shortest timed runs
                needed = direct_attention_bytes(1, size)
                if variant == 'direct' and free is not None and needed > 0.8 * free:
                    row['direct'] = dict(skipped=f'needs about {needed / 2**30:.0f} GB for the attention matrices, '
                                         f'{free / 2**30:.0f} GB free')
                    print(f'  skipping direct {config} {size}x{size}: {row["direct"]["skipped"]}')
                    continue
                if variant == 'ours' and size == 256 and config == args.configs[0] and not args.no_tiling:
                    exact_paths[config] = osp.join(workdir, f'exact_{config}.npy')
                    spec = dataclasses.replace(spec, save_output=exact_paths[config])
                row[variant] = runner.measure(spec)
            rows.append(row)
    return rows, exact_paths


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.device == 'auto':
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    else:
        device = precision.check_device(args.device)
    started = time.time()
    header = (f'RNAN benchmark, {datetime.date.today().isoformat()}, {machine_description(device)}; '
              f'official configuration (10 groups, 64 features), random weights; float32 rows with TF32 '
              f'{"allowed" if args.tf32 else "off"}')
    print(header)
    runner = Runner(args.timeout)
    base = Measurement(kind='forward', device=str(device), repeats=args.repeats,
                       switches=Switches(tf32=args.tf32))
    workdir = tempfile.mkdtemp(prefix='rnan_benchmark_')  # every intermediate file; removed however the run ends
    try:
        rows, exact_paths = measure_variants(args, runner, base, workdir, device_free_bytes(device))
        switch_rows = (None, [], [])
        if not args.no_precision:
            switch_rows = runner.measure_precision(base, switch_settings(args, device), workdir, not args.no_train,
                                                   args.precision_size, args.quality_steps)
        train = {}
        if not args.no_train and not args.no_variants:
            for variant in VARIANTS:  # ~15 s a step: the shortest timed runs
                train[variant] = runner.measure(dataclasses.replace(base, kind='train', variant=variant, repeats=1))
        tiling = []
        for config, exact in ({} if args.no_tiling else exact_paths).items():
            for tile in (64, 128):
                spec = dataclasses.replace(base, kind='tiling', config=config, size=256, tile=tile, overlap=16,
                                           repeats=1, exact_output=exact)
                tiling.append((config, tile, runner.measure(spec)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    data_result = None
    if not args.no_data:
        data_result = runner.measure(dataclasses.replace(base, kind='data', rounds=args.data_rounds,
                                                         samples=args.data_samples))

    text = report.render(header, time.time() - started, rows, train, tiling, switch_rows, data_result, device)
    print('\n' + text)
    from rnan_basicsr.utils.image_io import write_text  # atomic: an interrupted run leaves no half-written JSON

    write_text(args.json, json.dumps(dict(header=header, measurements=runner.log, report=text), indent=1))
    print(f'\nAll measurements written to {args.json}')
    return 0
