"""Benchmark the official RNAN (10 groups, 64 features) on this machine: its exact linear-memory non-local attention
(``ours``) against the authors' direct form (``direct``, the N x N matrix) and a conv-only ``floor`` (the non-local
blocks replaced by the identity), tiled inference, the precision and speed switches, and the data pipeline. How each
table is measured, and the project's goals to read them against: docs/benchmark.md.

    python scripts/benchmark.py                     # everything: about an hour on 2 CPU cores without AVX-512 BF16
    python scripts/benchmark.py --no_variants --no_tiling --no_data --switches channels_last compile
    python scripts/benchmark.py --sizes 64 128 --configs grey --no_train --no_tiling --no_precision --no_data
"""
import argparse
import dataclasses
import datetime
import json
import numpy as np
import os
import platform
import psutil
import subprocess
import sys
import tempfile
import time
import torch
from os import path as osp

from rnan_basicsr import precision
from rnan_basicsr.tools.benchmark import report
from rnan_basicsr.tools.benchmark.fixtures import QUALITY_STEPS
from rnan_basicsr.tools.benchmark.measurements import psnr_db
from rnan_basicsr.tools.benchmark.spec import (CONFIGS, CPU_SETTINGS, GPU_SETTINGS, PRECISION_SIZE, SWITCH_TRAIN_BATCH,
                                               SWITCH_WORDS, VARIANTS, Measurement, Switches)

MEASUREMENT_TIMEOUT = 600  # seconds; a measurement that takes longer is reported as timed out


class Runner:
    """Runs measurements in fresh processes and keeps every (spec, result) in ``log``."""

    def __init__(self, timeout=MEASUREMENT_TIMEOUT):
        self.timeout = timeout
        self.log = []

    def measure(self, spec):
        """Run ``spec`` in a fresh process; returns its result dict (with 'error' if it failed or timed out)."""
        print(f'  measuring {spec.label} ...', end='', flush=True)
        command = [sys.executable, '-m', 'rnan_basicsr.tools.benchmark.measurements',
                   json.dumps(dataclasses.asdict(spec))]
        env = dict(os.environ, PYTHONWARNINGS='ignore')
        try:
            proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            result = dict(error=f'timed out after {self.timeout:.0f} s')
        else:
            lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
            if proc.returncode != 0 or not lines:
                result = dict(error=(proc.stderr.strip().splitlines() or ['no output'])[-1])
            else:
                result = json.loads(lines[-1][len('RESULT '):])
        if 'error' in result:
            print(f' failed: {result["error"]}')
        else:
            spread = f' (IQR {result["iqr_s"]:.2f} s over {result["runs"]} runs)' if 'iqr_s' in result else ''
            print(f' {result["time_s"]:.2f} s{spread}, {result["peak_mb"]:.0f} MB')
        self.log.append(dict(spec=dataclasses.asdict(spec), result=result))
        return result

    def measure_precision(self, base, settings, workdir, train, size=PRECISION_SIZE, steps=QUALITY_STEPS):
        """Forward (grey ``size``²) and, with ``train``, training-step rows under each of ``settings`` (float32
        first), with their quality (:func:`add_quality`); with ``train``, a small network is trained first (``steps``)
        and every row runs it too. Returns (quality_net_result or None, forward_rows, train_rows), rows of (switches,
        result)."""
        weights = osp.join(workdir, 'quality_net.pth') if train else None
        trained, rows = None, {'forward': [], 'train': []}
        if train:
            trained = self.measure(dataclasses.replace(base, kind='train_quality_net', weights=weights, size=size,
                                                       steps=steps))
            if 'error' in trained:
                return trained, [], []
        for kind in ('forward', 'train') if train else ('forward', ):
            for index, switches in enumerate(settings):
                files = osp.join(workdir, f'{kind}_{index}')
                spec = dataclasses.replace(base, kind=kind, config='grey', variant='ours', size=size, weights=weights,
                                           quality_output=weights and files + '_quality.npz', switches=switches)
                if kind == 'train':  # 4 patches (bf16 without AVX-512 BF16 is slow), the shortest timed runs
                    spec = dataclasses.replace(spec, batch=SWITCH_TRAIN_BATCH, repeats=1)
                else:
                    spec = dataclasses.replace(spec, save_output=files + '_official.npy')
                rows[kind].append((switches, self.measure(spec), spec))
            add_quality(rows[kind])
        return trained, [row[:2] for row in rows['forward']], [row[:2] for row in rows['train']]


def add_quality(rows):
    """PSNR (and gradient error) of every (switches, result, spec) row against the first (float32) row, from the
    files the children wrote: ``psnr_official_db`` from ``save_output``, ``psnr_trained_db`` (and
    ``grad_rel_error``) from ``quality_output``."""
    if not rows or 'error' in rows[0][1]:
        return
    reference = rows[0][2]
    for _, result, spec in rows:
        if 'error' in result:
            continue
        if spec.quality_output:
            got, ref = np.load(spec.quality_output), np.load(reference.quality_output)
            result['psnr_trained_db'] = psnr_db(got['output'], ref['output'])
            if 'grads' in got:
                result['grad_rel_error'] = float(np.linalg.norm(got['grads'] - ref['grads']) /
                                                 np.linalg.norm(ref['grads']))
        if spec.save_output:
            result['psnr_official_db'] = psnr_db(np.load(spec.save_output), np.load(reference.save_output))


def device_free_bytes(device):
    """Free memory for one measurement: available RAM on the CPU, free CUDA memory on a GPU (None if unknown)."""
    if device.type == 'cuda':
        try:
            return torch.cuda.mem_get_info(device)[0]
        except RuntimeError:
            return None
    return psutil.virtual_memory().available


def machine_description(device):
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    text = f'{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}'
    if device.type == 'cuda':
        text += f', GPU {torch.cuda.get_device_name(device)}'
    return text


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
                needed = 2 * (size * size)**2 * 4  # the authors' block holds f and softmax(f), N x N float32, at once
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
    with tempfile.TemporaryDirectory(prefix='rnan_benchmark_') as workdir:  # every intermediate file
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
