"""Benchmark RNAN's exact linear-memory non-local attention against the authors' direct form and a conv-only floor.

Three variants of the same official network (10 groups, 64 features), measured in one run on this machine:

* ``ours``   -- ``nl_impl='auto'``: exact attention through fused SDPA kernels, memory linear in N = H*W;
* ``direct`` -- ``nl_impl='direct'``: the N x N matrix materialised, as the authors' code does;
* ``floor``  -- the non-local blocks replaced by the identity: what the rest of the network costs, so the gap
  above it is what attention costs.

Every measurement runs in a fresh Python process, so its peak memory (peak RSS on the CPU, CUDA peak allocation on
a GPU) is not inflated by a larger configuration measured before it. Forward passes are timed without gradients
after a small warm-up, best of ``--repeats``. The training step is forward + L2 loss + backward + Adam on a batch
of 16 patches of 48 x 48 (the paper's setting). The tiling rows compare whole-image inference with tiled
inference (``rnan_basicsr.utils.inference.tile_forward``) on a 256 x 256 image of the first configuration: time,
memory, and the distance between the tiled and the exact output. Weights are random (seeded) with the non-local
output convolutions W drawn from N(0, 0.02) instead of zero, so that attention changes the output.

    python scripts/benchmark.py                     # everything (about 10 minutes on 2 CPU cores)
    python scripts/benchmark.py --sizes 64 128 --configs grey --no-train --no-tiling
"""
import argparse
import contextlib
import datetime
import json
import numpy as np
import os
import platform
import resource
import subprocess
import sys
import time
import torch
from os import path as osp

VARIANTS = ('floor', 'ours', 'direct')
CONFIGS = {'grey': 1, 'colour': 3}
TRAIN_BATCH, TRAIN_PATCH = 16, 48


# ---------------------------------------------------------------------------------------------------------------
# measurements (run in a child process each)
# ---------------------------------------------------------------------------------------------------------------
def build_network(channels, variant, device):
    import rnan_basicsr  # noqa: F401  (compatibility patches before basicsr)
    from rnan_basicsr.archs.rnan_arch import RNAN, NonLocalBlock

    torch.manual_seed(0)
    net = RNAN(num_in_ch=channels, num_out_ch=channels, nl_impl='direct' if variant == 'direct' else 'auto')
    for block in net.modules():
        if isinstance(block, NonLocalBlock):
            torch.nn.init.normal_(block.W.weight, std=0.02)
            if variant == 'floor':
                block.forward = lambda x: x
    return net.to(device)


def test_image(channels, size):
    """A natural image (scikit-image's camera / astronaut) cropped to size x size, (1, C, H, W) in [0, 1]."""
    try:
        from skimage import data
        img = data.astronaut() if channels == 3 else data.camera()[..., None]
    except ImportError:  # pragma: no cover - scikit-image is in the test extra
        rng = np.random.default_rng(0)
        img = rng.integers(0, 256, (512, 512, channels), dtype=np.uint8)
    reps = -(-size // min(img.shape[:2]))
    img = np.tile(img, (reps, reps, 1))
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    img = img[top:top + size, left:left + size].astype(np.float32) / 255.
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).unsqueeze(0)


def peak_memory_mb(device):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(function, repeats, device):
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times), times


def measure_forward(spec, device):
    channels = CONFIGS[spec['config']]
    net = build_network(channels, spec['variant'], device).eval()
    lq = test_image(channels, spec['size']).to(device)
    autocast = torch.autocast(device.type, dtype=getattr(torch, spec['amp'])) if spec.get('amp') else None
    if spec.get('channels_last'):
        net, lq = net.to(memory_format=torch.channels_last), lq.contiguous(memory_format=torch.channels_last)

    outputs = []

    def forward(x):
        with torch.inference_mode(), (autocast or contextlib.nullcontext()):
            outputs[:] = [net(x)]

    forward(lq[..., :32, :32])  # warm-up: kernels, allocator
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    best, times = timed(lambda: forward(lq), spec['repeats'], device)
    result = dict(time_s=best, times_s=times, peak_mb=peak_memory_mb(device))
    if spec.get('save_output'):
        np.save(spec['save_output'], outputs[0].float().cpu().numpy())
    return result


def measure_train_step(spec, device):
    channels = CONFIGS[spec['config']]
    net = build_network(channels, spec['variant'], device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(0)
    lq = torch.rand(TRAIN_BATCH, channels, TRAIN_PATCH, TRAIN_PATCH, generator=generator).to(device)
    gt = torch.rand(TRAIN_BATCH, channels, TRAIN_PATCH, TRAIN_PATCH, generator=generator).to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(lq), gt)
        loss.backward()
        optimizer.step()

    step()  # warm-up (also allocates Adam's state)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    best, times = timed(step, spec['repeats'], device)
    return dict(time_s=best, times_s=times, peak_mb=peak_memory_mb(device))


def measure_tiling(spec, device):
    from rnan_basicsr.utils.inference import tile_forward

    channels = CONFIGS[spec['config']]
    net = build_network(channels, 'ours', device).eval()
    lq = test_image(channels, spec['size']).to(device)
    with torch.inference_mode():
        tile_forward(net, lq[..., :32, :32], 16, 4)  # warm-up
        best, times = timed(lambda: tile_forward(net, lq, spec['tile'], spec['overlap']), spec['repeats'], device)
        out = tile_forward(net, lq, spec['tile'], spec['overlap']).float().cpu().numpy()
    result = dict(time_s=best, times_s=times, peak_mb=peak_memory_mb(device))
    exact = np.load(spec['exact_output'])
    diff = np.clip(out, 0, 1) - np.clip(exact, 0, 1)
    mse = float(np.mean(diff**2))
    result.update(max_abs_diff_255=float(np.abs(diff).max() * 255),
                  psnr_vs_whole_db=float('inf') if mse == 0 else float(10 * np.log10(1 / mse)))
    return result


def run_child(spec):
    torch.set_grad_enabled(spec['kind'] == 'train')
    device = torch.device(spec.get('device', 'cpu'))
    kind = {'forward': measure_forward, 'train': measure_train_step, 'tiling': measure_tiling}[spec['kind']]
    print('RESULT ' + json.dumps(kind(spec, device)), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------------------------------------------
def measure(spec, log):
    """Run one measurement in a fresh process; returns its result dict (with 'error' if it failed)."""
    label = ' '.join(f'{k}={v}' for k, v in spec.items() if k not in ('save_output', 'exact_output'))
    print(f'  measuring {label} ...', end='', flush=True)
    command = [sys.executable, osp.abspath(__file__), '--child', json.dumps(spec)]
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        print(f' failed: {tail}')
        result = dict(error=tail)
    else:
        result = json.loads(lines[-1][len('RESULT '):])
        print(f' {result["time_s"]:.2f} s, {result["peak_mb"]:.0f} MB')
    log.append(dict(spec=spec, result=result))
    return result


def direct_attention_bytes(batch, size):
    """The authors' block holds f and softmax(f), two (B, N, N) float32 matrices, at once."""
    n = size * size
    return 2 * batch * n * n * 4


def available_bytes():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def fmt(value, digits=2):
    return '—' if value is None else f'{value:.{digits}f}'


def fmt_times(value):
    """A ratio as ``2.18×``, or ``—`` when one side was not measured."""
    return '—' if value is None else f'{value:.2f}×'


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    parser.add_argument('--configs', nargs='+', choices=sorted(CONFIGS), default=['grey', 'colour'])
    parser.add_argument('--repeats', type=int, default=2, help='timed runs per measurement (best is reported)')
    parser.add_argument('--device', default='auto', help='cpu, cuda or auto (default)')
    parser.add_argument('--no-train', action='store_true', help='skip the training-step rows')
    parser.add_argument('--no-tiling', action='store_true', help='skip the tiled-inference rows')
    parser.add_argument('--json', default='benchmark_results.json', help='where to write all measurements')
    args = parser.parse_args()
    if args.child:
        return run_child(json.loads(args.child))

    device = torch.device('cuda' if args.device == 'auto' and torch.cuda.is_available() else
                          ('cpu' if args.device == 'auto' else args.device))
    started = time.time()
    header = (f'RNAN benchmark, {datetime.date.today().isoformat()}, {machine_description(device)}; '
              f'official configuration (10 groups, 64 features), random weights')
    print(header)
    log, rows = [], []
    free = available_bytes()
    base = dict(device=device.type, repeats=args.repeats)
    exact_paths = {}
    for config in args.configs:
        for size in args.sizes:
            row = dict(config=config, size=size)
            for variant in VARIANTS:
                spec = dict(base, kind='forward', config=config, size=size, variant=variant)
                if size >= 256 or (variant == 'direct' and size >= 128):
                    spec['repeats'] = 1  # one long run; the warm-up already happened on a small input
                needed = direct_attention_bytes(1, size)
                if variant == 'direct' and free is not None and device.type == 'cpu' and needed > 0.8 * free:
                    row['direct'] = dict(skipped=f'needs about {needed / 2**30:.0f} GB for the attention matrices')
                    print(f'  skipping direct {config} {size}x{size}: {row["direct"]["skipped"]}')
                    continue
                if variant == 'ours' and size == 256 and config == args.configs[0] and not args.no_tiling:
                    exact_paths[config] = osp.abspath(f'.benchmark_exact_{config}_{os.getpid()}.npy')
                    spec['save_output'] = exact_paths[config]
                row[variant] = measure(spec, log)
            rows.append(row)

    gpu_rows = []
    if device.type == 'cuda':  # AMP and channels_last throughput (CUDA peak memory)
        for config in args.configs:
            for extra in (dict(), dict(amp='bfloat16'), dict(amp='float16'), dict(channels_last=True)):
                spec = dict(base, kind='forward', config=config, size=max(args.sizes), variant='ours', **extra)
                gpu_rows.append((config, extra, measure(spec, log)))

    train = {}
    if not args.no_train:
        for variant in VARIANTS:
            spec = dict(base, kind='train', config='grey', variant=variant, repeats=1)  # ~15 s a step
            train[variant] = measure(spec, log)

    tiling = []
    if not args.no_tiling and exact_paths:
        for config, exact in exact_paths.items():
            for tile in (64, 128):
                spec = dict(base, kind='tiling', config=config, size=256, tile=tile, overlap=16, repeats=1,
                            exact_output=exact)
                tiling.append((config, tile, measure(spec, log)))
            os.remove(exact)

    report = render(header, rows, gpu_rows, train, tiling, time.time() - started)
    print('\n' + report)
    from rnan_basicsr.utils.image_io import write_text  # atomic: an interrupted run leaves no half-written JSON

    write_text(args.json, json.dumps(dict(header=header, measurements=log, report=report), indent=1))
    print(f'\nAll measurements written to {args.json}')
    return 0


def _get(cell, key='time_s'):
    return None if not cell or 'error' in cell or 'skipped' in cell else cell.get(key)


def render(header, rows, gpu_rows, train, tiling, seconds):
    out = [f'_{header}; measured in {seconds / 60:.1f} min._', '',
           '**Forward pass, one image, no gradient** (time: best of runs; memory: peak RSS of a fresh process)', '',
           '| config | size | floor s | ours s | direct s | speed-up (direct / ours) | ours / floor (time) '
           '| floor MB | ours MB | direct MB | ours / floor (memory) |', '|' + '---|' * 11]
    for row in rows:
        f, o, d = (row.get(v) for v in VARIANTS)
        speedup = ratio(_get(d), _get(o))
        direct_time = fmt(_get(d)) if 'skipped' not in (d or {}) else f'skipped ({d["skipped"]})'
        out.append(f'| {row["config"]} | {row["size"]}² | {fmt(_get(f))} | {fmt(_get(o))} | {direct_time} '
                   f'| {fmt_times(speedup)} | {fmt(ratio(_get(o), _get(f)))} | {fmt(_get(f, "peak_mb"), 0)} '
                   f'| {fmt(_get(o, "peak_mb"), 0)} | {fmt(_get(d, "peak_mb"), 0)} '
                   f'| {fmt(ratio(_get(o, "peak_mb"), _get(f, "peak_mb")))} |')
    if gpu_rows:
        out += ['', '**GPU throughput (ours)**', '', '| config | setting | s | CUDA peak MB |', '|---|---|---|---|']
        for config, extra, result in gpu_rows:
            setting = ', '.join(f'{k}={v}' for k, v in extra.items()) or 'float32'
            out.append(f'| {config} | {setting} | {fmt(_get(result))} | {fmt(_get(result, "peak_mb"), 0)} |')
    if train:
        f, o, d = (train.get(v) for v in VARIANTS)
        out += ['', f'**Training step** (grey, batch {TRAIN_BATCH}, {TRAIN_PATCH}×{TRAIN_PATCH}, L2 + Adam)', '',
                '| floor s | ours s | direct s | speed-up (direct / ours) | floor MB | ours MB | direct MB |',
                '|---|---|---|---|---|---|---|',
                f'| {fmt(_get(f))} | {fmt(_get(o))} | {fmt(_get(d))} | {fmt_times(ratio(_get(d), _get(o)))} '
                f'| {fmt(_get(f, "peak_mb"), 0)} | {fmt(_get(o, "peak_mb"), 0)} | {fmt(_get(d, "peak_mb"), 0)} |']
    if tiling:
        out += ['', '**Whole image vs tiled inference** (256², overlap 16; distance to the exact whole-image output)',
                '', '| config | tile | s | MB | max abs diff (0-255) | PSNR vs whole (dB) |',
                '|---|---|---|---|---|---|']
        whole = {row['config']: row.get('ours') for row in rows if row['size'] == 256}
        for config in dict.fromkeys(c for c, _, _ in tiling):
            out.append(f'| {config} | whole | {fmt(_get(whole.get(config)))} | '
                       f'{fmt(_get(whole.get(config), "peak_mb"), 0)} | 0 | ∞ |')
            for c, tile, result in tiling:
                if c == config:
                    out.append(f'| {config} | {tile} | {fmt(_get(result))} | {fmt(_get(result, "peak_mb"), 0)} | '
                               f'{fmt(_get(result, "max_abs_diff_255"))} | {fmt(_get(result, "psnr_vs_whole_db"))} |')
    out += ['', goals(rows, train)]
    return '\n'.join(out)


def verdict(value, passed):
    """``met`` / ``missed`` for a measured value and the test of its goal; ``not measured`` for None."""
    return 'not measured' if value is None else ('met' if passed(value) else 'missed')


def goals(rows, train):
    """The performance goals of the project, checked against what was just measured."""
    lines = ['**Goals**']
    for row in rows:
        if row['size'] == 128:
            speedup = ratio(_get(row.get('direct')), _get(row.get('ours')))
            lines.append(f'- {row["config"]} 128²: ours is {fmt(speedup)}× faster than direct: goal ≥ 2 '
                         f'{verdict(speedup, lambda v: v >= 2)}, stretch 3 {verdict(speedup, lambda v: v >= 3)}')
        if row['size'] == 256 and row['config'] == 'grey' and _get(row.get('ours')):
            times_floor = ratio(_get(row.get('ours')), _get(row.get('floor')))
            gigabytes = _get(row.get('ours'), 'peak_mb') / 1024
            lines.append(f'- grey 256²: ours takes {fmt(times_floor)}× the conv-only floor (goal ≤ 6 '
                         f'{verdict(times_floor, lambda v: v <= 6)}) and {gigabytes:.2f} GB (goal < 1.5 GB '
                         f'{verdict(gigabytes, lambda v: v < 1.5)})')
    worst = [ratio(_get(r.get('ours'), 'peak_mb'), _get(r.get('floor'), 'peak_mb')) for r in rows]
    worst = [w for w in worst if w is not None]
    if worst:
        lines.append(f'- peak memory ours / floor: at most {max(worst):.2f} over all sizes (goal ≤ 1.25 '
                     f'{verdict(max(worst), lambda v: v <= 1.25)})')
    if train and _get(train.get('ours')) and _get(train.get('direct')):
        ours, direct = _get(train['ours']), _get(train['direct'])
        lines.append(f'- training step: ours {fmt(ours)} s vs direct {fmt(direct)} s (goal: no slower '
                     f'{verdict(ours, lambda v: v <= direct)})')
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
