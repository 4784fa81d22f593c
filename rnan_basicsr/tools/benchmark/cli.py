"""The command line of ``scripts/benchmark.py``: benchmark RNAN's exact linear-memory non-local attention against
the authors' direct form and a conv-only floor.

Three variants of the same official network (10 groups, 64 features), measured in one run on this machine:

* ``ours``   -- ``nl_impl='auto'``: exact attention through fused SDPA kernels, memory linear in N = H*W;
* ``direct`` -- ``nl_impl='direct'``: the N x N matrix materialised, as the authors' code does;
* ``floor``  -- the non-local blocks replaced by the identity: what the rest of the network costs, so the gap
  above it is what attention costs.

Every measurement runs in a fresh Python process. Each timed call follows a warm-up call on the same input; the
calls are timed with ``torch.utils.benchmark.Timer.blocked_autorange`` for at least ``--repeats`` times one call,
and the tables give the median and the spread (± half the interquartile range). The memory columns are the peak
while the timed calls run: the process's resident memory sampled by a thread (psutil) on the CPU, CUDA's peak
allocation on a GPU. Forward passes run without gradients. The training step is ``RNANModel.optimize_parameters``
itself (L2 loss, Adam, the precision / TF32 policy of the model) on a batch of 16 patches of 48 x 48 (the paper's
setting), built from an in-memory option dict. The tiling rows compare whole-image inference with tiled inference
(``rnan_basicsr.test_time.tile_forward``) on a 256 x 256 image of the first configuration: time, memory, and the
distance between the tiled and the exact output. Weights are random (seeded) with the non-local output
convolutions W drawn from N(0, 0.02) instead of zero, so that attention changes the output.

Precision and speed switches (``--no_precision`` skips them): the 128 x 128 grey forward pass and the training step
of the official network in float32, bf16 autocast, channels_last and torch.compile (and on a GPU fp16 autocast and
TF32), each with its distance to float32 on a **trained** network: a 16-feature RNAN trained here for a minute on
colour denoising (sigma 30) of scikit-image photographs, run under the same switches on a held-out 128 x 128 image
(forward: PSNR of the output against float32's; training step: PSNR of the step's output and relative error of the
gradients against float32's; PSNR is BasicSR's ``calculate_psnr``). Float32 rows run with TF32 off (``--tf32``
allows it for them). The compiled rows also report their first call (compilation included). ``--switches``
measures chosen rows instead of the default ones.

``--no_train`` trains nothing: no training-step rows, and no quality network. The switch rows then give their
forward speed and, as their only quality column, the PSNR against float32 on the official network with random
weights; the trained network's PSNR and the training-step columns are left out.

Data pipeline (``--no_data`` skips it): training samples per second of each of our datasets against BasicSR's
PairedImageDataset reading pre-made pairs of the same task, from LMDBs of the same 480 x 480 sub-images, gt_size 48,
one process, no workers, one thread (OpenCV and torch), interleaved in rounds. Our datasets read the colour
sub-images (the JPEG one also an LMDB of their Y channel, which it reads as it is).

The project's performance goals, and how to read these tables against them, are in docs/benchmark.md.

    python scripts/benchmark.py                     # everything: about an hour on 2 CPU cores without AVX-512 BF16
    python scripts/benchmark.py --no_variants --no_tiling --no_data --switches channels_last compile
    python scripts/benchmark.py --sizes 64 128 --configs grey --no_train --no_tiling --no_precision --no_data

One concept per module: :mod:`.spec` (what one measurement measures), :mod:`.fixtures` (images, networks, the
model, LMDBs), :mod:`.memory` (the memory column), :mod:`.measurements` (run in the child), :mod:`.runner` (the
children), :mod:`.quality` (the switch rows against float32), :mod:`.report` (the tables), :mod:`.cli` (the command
line).
"""
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
    parser = argparse.ArgumentParser(prog='benchmark.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    parser.add_argument('--configs', nargs='+', choices=sorted(CONFIGS), default=['grey', 'colour'])
    parser.add_argument('--repeats', type=int, default=2,
                        help='the timed runs of a measurement last at least this many calls (default 2)')
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto (default)')
    parser.add_argument('--no_train', action='store_true',
                        help='train nothing: no training-step rows, no quality network (the switch rows then have '
                        'their speed and their PSNR on the official network only)')
    parser.add_argument('--no_tiling', action='store_true', help='skip the tiled-inference rows')
    parser.add_argument('--no_variants', action='store_true', help='skip the floor / ours / direct rows')
    parser.add_argument('--no_precision', action='store_true', help='skip the precision / speed switch rows')
    parser.add_argument('--no_data', action='store_true', help='skip the data pipeline rows')
    parser.add_argument('--data_rounds', type=int, default=4, help='interleaved rounds of the data measurement')
    parser.add_argument('--data_samples', type=int, default=100, help='samples per dataset and round')
    parser.add_argument('--no_compile', action='store_true', help='skip the torch.compile rows')
    parser.add_argument('--switches', nargs='+', metavar='SWITCHES', type=switches_argument,
                        help='measure these switch rows instead of the default ones, each a "+"-joined set of '
                        f'{", ".join(SWITCH_WORDS)} (e.g. channels_last bf16+channels_last compile); the float32 '
                        'row, the reference of the quality columns, is always measured first')
    parser.add_argument('--precision_size', type=int, default=PRECISION_SIZE, help='image side of the switch rows')
    parser.add_argument('--quality_steps', type=int, default=QUALITY_STEPS,
                        help='training steps of the quality net (none with --no_train)')
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
    base = Measurement(kind='forward', device=str(device), repeats=args.repeats, switches=Switches(tf32=args.tf32))
    workdir = tempfile.mkdtemp(prefix='rnan_benchmark_')  # every intermediate file; removed however the run ends
    try:
        rows, exact_paths = measure_variants(args, runner, base, workdir, device_free_bytes(device))
        switch_rows = None
        if not args.no_precision:
            switch_rows = (args.precision_size, *runner.measure_precision(
                base, switch_settings(args, device), workdir, not args.no_train, args.precision_size,
                args.quality_steps))
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
