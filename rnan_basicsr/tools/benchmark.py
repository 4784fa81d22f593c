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
inference (``rnan_basicsr.test_time.tile_forward``) on a 256 x 256 image of the first configuration: time,
memory, and the distance between the tiled and the exact output. Weights are random (seeded) with the non-local
output convolutions W drawn from N(0, 0.02) instead of zero, so that attention changes the output.

Precision and speed switches (``--no-precision`` skips them): the 128 x 128 grey forward pass and the training step
of the official network in float32, bf16 autocast, channels_last and torch.compile (and on a GPU fp16 autocast and
TF32), each with its distance to float32 on a **trained** network: a 16-feature RNAN trained here for a minute on
colour denoising (sigma 30) of scikit-image photographs, run under the same switches on a held-out 128 x 128 image
(forward: PSNR of the output against float32's; training step: PSNR of the step's output and relative error of the
gradients against float32's). Float32 rows run with TF32 off (``--tf32`` allows it for them). Every timed call
follows a warm-up call; the compiled rows also report that first call (compilation included). ``--switches``
measures chosen rows instead of the default ones.

Data pipeline (``--no-data`` skips it): training samples per second of each of our datasets against BasicSR's
PairedImageDataset reading pre-made pairs of the same task, from LMDBs of the same 480 x 480 sub-images, gt_size 48,
one process, no workers, one thread (OpenCV and torch), interleaved in rounds. Our datasets read the colour
sub-images (the JPEG one also an LMDB of their Y channel, which it reads as it is).

    python scripts/benchmark.py                     # everything: about an hour on 2 CPU cores without AVX-512 BF16
    python scripts/benchmark.py --no-variants --no-tiling --no-data --switches channels_last compile
    python scripts/benchmark.py --sizes 64 128 --configs grey --no-train --no-tiling --no-precision --no-data
"""
import argparse
import contextlib
import datetime
import json
import numpy as np
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import torch
from os import path as osp

from rnan_basicsr import precision

VARIANTS = ('floor', 'ours', 'direct')
CONFIGS = {'grey': 1, 'colour': 3}
TRAIN_BATCH, TRAIN_PATCH = 16, 48
ENTRY_SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'scripts', 'benchmark.py')

#: the switches measured on this machine (float32 first: the reference of the quality columns)
CPU_SETTINGS = ({}, {'amp': 'bf16'}, {'channels_last': True}, {'amp': 'bf16', 'channels_last': True},
                {'compile': True}, {'amp': 'bf16', 'channels_last': True, 'compile': True})
GPU_SETTINGS = ({}, {'tf32': True}, {'amp': 'bf16'}, {'amp': 'fp16'}, {'channels_last': True},
                {'amp': 'fp16', 'channels_last': True}, {'amp': 'bf16', 'channels_last': True, 'compile': True})
PRECISION_SIZE = 128
#: the small network trained by the benchmark for the quality columns
QUALITY_NET = dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_group=2)
QUALITY_SIGMA, QUALITY_STEPS, QUALITY_PATCH, QUALITY_BATCH = 30, 150, 24, 4
SWITCH_TRAIN_BATCH = 4  # training-step rows of the switches: 4 patches of 48 x 48 (bf16 without AVX-512 is slow)
MEASUREMENT_TIMEOUT = 600  # seconds; a measurement that takes longer is reported as timed out
RUN = {'timeout': MEASUREMENT_TIMEOUT}  # settings of this run (--timeout) for every measure() call
DATA_TASKS = ('denoise', 'jpeg', 'demosaic')
DATA_GT_SIZE, DATA_SUB_IMAGE = 48, 480


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


def warm_up_and_time(warm_up, call, spec, device, compiled):
    """Call ``warm_up`` once (kernels, allocator, compilation), then time ``call`` (best of ``spec['repeats']``).

    Returns the measurement: ``time_s``, ``times_s``, ``peak_mb`` (after the warm-up), ``compiled`` and, for compiled
    rows, ``first_call_s``: the warm-up's time, compilation included.
    """
    first_s, _ = timed(warm_up, 1, device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    best, times = timed(call, spec['repeats'], device)
    return dict(time_s=best, times_s=times, peak_mb=peak_memory_mb(device), compiled=compiled,
                first_call_s=first_s if spec.get('compile') else None)


def setting_of(spec):
    """The switches of a spec: (precision name, channels_last, compile, tf32)."""
    return (spec.get('amp') or 'fp32', bool(spec.get('channels_last')), bool(spec.get('compile')),
            bool(spec.get('tf32')))


def prepare(net, spec, device):
    """``net`` under the spec's switches: (callable forward, input transform, autocast context factory)."""
    amp, channels_last, compile_, _ = setting_of(spec)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = precision.CompiledForward(net, enabled=compile_, what='compile')
    return (forward, lambda x: precision.channels_last(x, channels_last),
            lambda: precision.autocast(device, amp))


def quality_image(size=PRECISION_SIZE):
    """The held-out image of the quality network: a size x size crop of chelsea with sigma-30 noise, (1, 3, H, W)."""
    from skimage import data

    clean = data.chelsea()[:, :, ::-1].astype(np.float32) / 255.  # BGR, as the training images
    top, left = (clean.shape[0] - size) // 2, (clean.shape[1] - size) // 2
    clean = torch.from_numpy(np.ascontiguousarray(clean[top:top + size, left:left + size].transpose(2, 0, 1)))[None]
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1)) * QUALITY_SIGMA / 255.
    return clean + noise, clean


def load_quality_net(spec, device):
    from rnan_basicsr.archs.rnan_arch import RNAN

    net = RNAN(**QUALITY_NET)
    net.load_state_dict(torch.load(spec['quality']['weights'], weights_only=True))
    return net.to(device)


def measure_forward(spec, device):
    channels = CONFIGS[spec['config']]
    net = build_network(channels, spec['variant'], device).eval()
    lq = test_image(channels, spec['size']).to(device)
    forward_net, to_format, autocast = prepare(net, spec, device)
    lq = to_format(lq)
    outputs = []

    def forward(x):
        with torch.inference_mode(), autocast():
            outputs[:] = [forward_net(x)]

    # a compiled network warms up (compiles) on the timed size, an eager one on a small crop
    warm_up_input = lq if spec.get('compile') else lq[..., :32, :32]
    result = warm_up_and_time(lambda: forward(warm_up_input), lambda: forward(lq), spec, device,
                              forward_net.is_compiled)
    if spec.get('save_output'):
        np.save(spec['save_output'], outputs[0].float().cpu().numpy())
    if spec.get('quality'):  # the same switches on the trained network
        small, to_format, autocast = prepare(load_quality_net(spec, device).eval(), spec, device)
        noisy, _ = quality_image(spec['quality']['size'])
        with torch.inference_mode(), autocast():
            out = small(to_format(noisy.to(device)))
        np.save(spec['quality']['output'], out.float().cpu().numpy())
    return result


def training_batch(channels, device, batch=TRAIN_BATCH, patch=TRAIN_PATCH, seed=0):
    generator = torch.Generator().manual_seed(seed)
    lq = torch.rand(batch, channels, patch, patch, generator=generator).to(device)
    gt = torch.rand(batch, channels, patch, patch, generator=generator).to(device)
    return lq, gt


def training_step(forward, to_format, autocast, parameters, optimizer, lq, gt, scaler=None):
    """One step as RNANModel takes it: forward under autocast, float32 L2 loss, (scaled) backward, Adam."""
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        out = forward(to_format(lq))
    loss = torch.nn.functional.mse_loss(out.float(), gt)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return out


def measure_train_step(spec, device):
    channels = CONFIGS[spec['config']]
    net = build_network(channels, spec['variant'], device).train()
    forward, to_format, autocast = prepare(net, spec, device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999))
    scaler = precision.make_grad_scaler(device, setting_of(spec)[0])
    lq, gt = training_batch(channels, device, batch=spec.get('batch', TRAIN_BATCH))

    def step():
        training_step(forward, to_format, autocast, net.parameters(), optimizer, lq, gt, scaler)

    result = warm_up_and_time(step, step, spec, device, forward.is_compiled)  # the warm-up also allocates Adam's state
    if spec.get('quality'):  # one step's output and gradients on the trained network, same switches
        small = load_quality_net(spec, device).train()
        forward, to_format, autocast = prepare(small, spec, device)
        noisy, clean = quality_image(spec['quality']['size'])
        with autocast():
            out = forward(to_format(noisy.to(device)))
        loss = torch.nn.functional.mse_loss(out.float(), clean.to(device))
        scale = 2.**16 if setting_of(spec)[0] == 'fp16' else 1.  # as a GradScaler does
        (loss * scale).backward()
        grads = torch.cat([p.grad.flatten() / scale for p in small.parameters()])
        np.savez(spec['quality']['output'], output=out.detach().float().cpu().numpy(), grads=grads.cpu().numpy())
    return result


def train_quality_net(spec, device):
    """Train the small network of the quality columns (float32, Adam, L2) on colour denoising; save its weights."""
    from skimage import data

    from rnan_basicsr.archs.rnan_arch import RNAN

    torch.manual_seed(0)
    net = RNAN(**QUALITY_NET).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    images = [torch.from_numpy(np.ascontiguousarray(getattr(data, name)()[:, :, ::-1].transpose(2, 0, 1)))
              .float().div(255.) for name in ('astronaut', 'coffee', 'rocket')]
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(spec['steps']):
        patches = []
        for _ in range(QUALITY_BATCH):
            img = images[int(torch.randint(len(images), (1, ), generator=generator))]
            top = int(torch.randint(img.shape[1] - QUALITY_PATCH + 1, (1, ), generator=generator))
            left = int(torch.randint(img.shape[2] - QUALITY_PATCH + 1, (1, ), generator=generator))
            patches.append(img[:, top:top + QUALITY_PATCH, left:left + QUALITY_PATCH])
        gt = torch.stack(patches).to(device)
        lq = gt + torch.randn(gt.shape, generator=generator).to(device) * QUALITY_SIGMA / 255.
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(lq), gt).backward()
        optimizer.step()
    net.eval()
    noisy, clean = quality_image(spec['size'])
    with torch.inference_mode():
        out = net(noisy.to(device)).cpu()
    torch.save(net.state_dict(), spec['weights'])
    return dict(time_s=time.perf_counter() - start, peak_mb=peak_memory_mb(device), steps=spec['steps'],
                size=spec['size'], psnr_noisy_db=psnr_db(noisy.numpy(), clean.numpy()),
                psnr_restored_db=psnr_db(out.numpy(), clean.numpy()))


def psnr_db(a, b):
    """PSNR (dB) of two arrays in [0, 1] (clipped), inf when equal."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1))**2))
    return float('inf') if mse == 0 else float(10 * np.log10(1 / mse))


def measure_tiling(spec, device):
    from rnan_basicsr.test_time import tile_forward

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


# ---------------------------------------------------------------------------------------------------------------
# data pipeline
# ---------------------------------------------------------------------------------------------------------------
def sub_images():
    """Eight 480 x 480 BGR sub-images of scikit-image photographs (resized so the short side is 480)."""
    import cv2
    from skimage import data

    crops = []
    for name in ('astronaut', 'coffee', 'chelsea', 'rocket'):
        img = np.ascontiguousarray(getattr(data, name)()[:, :, ::-1])
        factor = DATA_SUB_IMAGE / min(img.shape[:2])
        if factor > 1:
            img = cv2.resize(img, (round(img.shape[1] * factor), round(img.shape[0] * factor)),
                             interpolation=cv2.INTER_CUBIC)
        height, width = img.shape[:2]
        for top, left in ((0, 0), (height - DATA_SUB_IMAGE, width - DATA_SUB_IMAGE)):
            crops.append(img[top:top + DATA_SUB_IMAGE, left:left + DATA_SUB_IMAGE])
    return crops


def write_lmdb(images, folder, lmdb_path):
    """PNG files of ``images`` in ``folder`` and an LMDB of them (BasicSR's make_lmdb_from_imgs, meta_info.txt)."""
    import cv2
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    os.makedirs(folder, exist_ok=True)
    names = []
    for index, img in enumerate(images):
        names.append(f'{index:04d}.png')
        cv2.imwrite(osp.join(folder, names[-1]), img)
    with contextlib.redirect_stdout(open(os.devnull, 'w')):
        make_lmdb_from_imgs(folder, lmdb_path, names, [n[:-4] for n in names], map_size=2**30)


def data_datasets(root):
    """{name: dataset} for our three datasets and PairedImageDataset on pre-made pairs of each task."""
    from basicsr.data.paired_image_dataset import PairedImageDataset

    from rnan_basicsr.data.degradations import add_gaussian_noise, bayer_mosaic, jpeg_compress_y, y_channel
    from rnan_basicsr.data.demosaicing_dataset import DemosaicingDataset
    from rnan_basicsr.data.denoising_dataset import DenoisingDataset
    from rnan_basicsr.data.jpeg_artifact_dataset import JPEGArtifactDataset

    gt = sub_images()
    rng = np.random.default_rng(0)
    pairs = {
        'denoise': (gt, [add_gaussian_noise(img, 30, rng) for img in gt]),
        'jpeg': ([y_channel(img) for img in gt], [jpeg_compress_y(img, 10) for img in gt]),
        'demosaic': (gt, [bayer_mosaic(img) for img in gt]),
    }
    common = dict(phase='train', gt_size=DATA_GT_SIZE, use_hflip=True, use_rot=True, batch_size_per_gpu=16,
                  num_worker_per_gpu=0, io_backend={'type': 'lmdb'})
    ours = {'denoise': (DenoisingDataset, {'sigma': 30}), 'jpeg': (JPEGArtifactDataset, {'quality': 10}),
            'demosaic': (DemosaicingDataset, {})}
    datasets = {}
    for task in DATA_TASKS:
        cls, extra = ours[task]
        gt_lmdb = osp.join(root, f'{task}_source.lmdb')  # one copy each: an LMDB opens once per process
        write_lmdb(gt, osp.join(root, f'{task}_source'), gt_lmdb)
        datasets[cls.__name__] = cls(dict(common, name=task, type=cls.__name__, dataroot_gt=gt_lmdb, **extra))
        for side, images in zip(('gt', 'lq'), pairs[task]):
            write_lmdb([img[..., 0] if img.shape[-1] == 1 else img for img in images],
                       osp.join(root, f'{task}_{side}'), osp.join(root, f'{task}_{side}.lmdb'))
        if task == 'jpeg':  # the same sub-images stored as their Y channel: read as they are, a third of the bytes
            y_lmdb = osp.join(root, 'jpeg_source_y.lmdb')
            write_lmdb([img[..., 0] for img in pairs['jpeg'][0]], osp.join(root, 'jpeg_source_y'), y_lmdb)
            datasets[f'{cls.__name__} (Y LMDB)'] = cls(dict(common, name='jpeg_y', type=cls.__name__,
                                                            dataroot_gt=y_lmdb, **extra))
        datasets[f'PairedImageDataset ({task})'] = PairedImageDataset(
            dict(common, name=f'paired_{task}', type='PairedImageDataset', scale=1, filename_tmpl='{}',
                 dataroot_gt=osp.join(root, f'{task}_gt.lmdb'), dataroot_lq=osp.join(root, f'{task}_lq.lmdb'),
                 io_backend={'type': 'lmdb'}))
    return datasets


def measure_data(spec, device):
    """Training samples per second of each dataset, one thread, interleaved in rounds (machine load hits all)."""
    import cv2
    import random

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    random.seed(0)
    with tempfile.TemporaryDirectory() as root:
        datasets = data_datasets(root)
        for dataset in datasets.values():  # warm-up: opens the LMDBs
            dataset[0]
        seconds = dict.fromkeys(datasets, 0.)
        for _ in range(spec['rounds']):
            for name, dataset in datasets.items():
                start = time.perf_counter()
                for _ in range(spec['samples']):
                    dataset[random.randrange(len(dataset))]
                seconds[name] += time.perf_counter() - start
    total = spec['rounds'] * spec['samples']
    return dict(samples_per_s={name: total / value for name, value in seconds.items()}, time_s=sum(seconds.values()),
                peak_mb=peak_memory_mb(device))


def run_child(spec):
    torch.set_grad_enabled(spec['kind'] in ('train', 'train_quality_net'))
    device = torch.device(spec.get('device', 'cpu'))
    precision.set_tf32(bool(spec.get('tf32')))  # float32 is IEEE float32 unless a row asks for TF32
    kind = {'forward': measure_forward, 'train': measure_train_step, 'tiling': measure_tiling, 'data': measure_data,
            'train_quality_net': train_quality_net}[spec['kind']]
    print('RESULT ' + json.dumps(kind(spec, device)), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------------------------------------------
def measure(spec, log, timeout=None):
    """Run one measurement in a fresh process; returns its result dict (with 'error' if it failed)."""
    timeout = timeout or RUN['timeout']
    hidden = ('save_output', 'exact_output', 'quality', 'weights')
    label = ' '.join(f'{k}={v}' for k, v in spec.items() if k not in hidden)
    print(f'  measuring {label} ...', end='', flush=True)
    command = [sys.executable, '-m', 'rnan_basicsr.tools.benchmark', '--child', json.dumps(spec)]
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f' timed out after {timeout:.0f} s')
        log.append(dict(spec=spec, result=dict(error=f'timed out after {timeout:.0f} s')))
        return log[-1]['result']
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


def device_free_bytes(device):
    """Free memory for one measurement: available RAM on the CPU, free CUDA memory on a GPU (None if unknown)."""
    if device.type == 'cuda':
        try:
            return torch.cuda.mem_get_info(device)[0]
        except RuntimeError:
            return None
    return available_bytes()


SWITCH_WORDS = ('float32', 'bf16', 'fp16', 'channels_last', 'compile', 'tf32')


def parse_switches(text, parser):
    """``'bf16+channels_last'`` -> ``{'amp': 'bf16', 'channels_last': True}`` (``parser.error`` on a bad word)."""
    setting = {}
    for word in text.split('+'):
        if word not in SWITCH_WORDS:
            parser.error(f'--switches: unknown switch {word!r} in {text!r}; use {", ".join(SWITCH_WORDS)} joined by +')
        if word in ('bf16', 'fp16'):
            if setting.get('amp') not in (None, word):
                parser.error(f'--switches: {text!r} names two precisions')
            setting['amp'] = word
        elif word != 'float32':
            setting[word] = True
    return setting


def setting_label(setting):
    """``float32``, ``bf16 + channels_last + compile``, ``float32 + TF32``..."""
    words = [setting.get('amp') or 'float32']
    words += [name for name in ('channels_last', 'compile') if setting.get(name)]
    if setting.get('tf32'):
        words.append('TF32')
    return ' + '.join(words)


def measure_precision(base, settings, workdir, log, train, size=PRECISION_SIZE, steps=QUALITY_STEPS):
    """Forward (128² grey) and, with ``train``, training-step rows under each setting, with quality against float32.

    Returns (quality_net_result, forward_rows, train_rows); each row is (setting, result) with the quality keys
    ``psnr_trained_db`` (and for the forward ``psnr_official_db``, for the step ``grad_rel_error``) added.
    """
    weights = osp.join(workdir, 'quality_net.pth')
    trained = measure(dict(base, kind='train_quality_net', weights=weights, size=size, steps=steps), log)
    forward_rows, train_rows = [], []
    if 'error' in trained:
        return trained, forward_rows, train_rows
    for kind in ('forward', 'train') if train else ('forward', ):
        rows = forward_rows if kind == 'forward' else train_rows
        for index, setting in enumerate(settings):
            quality_file = osp.join(workdir, f'{kind}_{index}_quality.' + ('npy' if kind == 'forward' else 'npz'))
            quality = dict(weights=weights, output=quality_file, size=size)
            spec = dict(base, kind=kind, config='grey', variant='ours', quality=quality, **setting)
            if kind == 'train':  # a warm-up step (Adam's state, compilation), then one timed step
                spec.update(repeats=1, batch=SWITCH_TRAIN_BATCH)
            if kind == 'forward':
                spec.update(size=size, save_output=osp.join(workdir, f'forward_{index}_official.npy'))
            files = dict(quality=quality_file, official=spec.get('save_output'))
            rows.append((setting, measure(spec, log), files))
        add_quality(rows, kind)
    return trained, [r[:2] for r in forward_rows], [r[:2] for r in train_rows]


def add_quality(rows, kind):
    """PSNR (and gradient error) of every row against the first (float32) row, from the files the children wrote;
    ``rows`` are (setting, result, files)."""
    if not rows or 'error' in rows[0][1]:
        return
    reference = rows[0][2]
    for _, result, files in rows:
        if 'error' in result:
            continue
        if kind == 'forward':
            result['psnr_trained_db'] = psnr_db(np.load(files['quality']), np.load(reference['quality']))
            result['psnr_official_db'] = psnr_db(np.load(files['official']), np.load(reference['official']))
        else:
            got, ref = np.load(files['quality']), np.load(reference['quality'])
            result['psnr_trained_db'] = psnr_db(got['output'], ref['output'])
            result['grad_rel_error'] = float(np.linalg.norm(got['grads'] - ref['grads']) / np.linalg.norm(ref['grads']))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='benchmark.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    parser.add_argument('--configs', nargs='+', choices=sorted(CONFIGS), default=['grey', 'colour'])
    parser.add_argument('--repeats', type=int, default=2, help='timed runs per measurement (best is reported)')
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto (default)')
    parser.add_argument('--no-train', action='store_true', help='skip the training-step rows')
    parser.add_argument('--no-tiling', action='store_true', help='skip the tiled-inference rows')
    parser.add_argument('--no-variants', action='store_true', help='skip the floor / ours / direct rows')
    parser.add_argument('--no-precision', action='store_true', help='skip the precision / speed switch rows')
    parser.add_argument('--no-data', action='store_true', help='skip the data pipeline rows')
    parser.add_argument('--data-rounds', type=int, default=4, help='interleaved rounds of the data measurement')
    parser.add_argument('--data-samples', type=int, default=100, help='samples per dataset and round')
    parser.add_argument('--no-compile', action='store_true', help='skip the torch.compile rows')
    parser.add_argument('--switches', nargs='+', metavar='SWITCHES',
                        help='measure these switch rows instead of the default ones, each a "+"-joined set of '
                        f'{", ".join(SWITCH_WORDS)} (e.g. channels_last bf16+channels_last compile); the float32 '
                        'row, the reference of the quality columns, is always measured first')
    parser.add_argument('--precision-size', type=int, default=PRECISION_SIZE, help='image side of the switch rows')
    parser.add_argument('--quality-steps', type=int, default=QUALITY_STEPS, help='training steps of the quality net')
    parser.add_argument('--tf32', action='store_true', help='allow TF32 in the float32 rows (GPU; default: off)')
    parser.add_argument('--timeout', type=float, default=MEASUREMENT_TIMEOUT,
                        help=f'seconds per measurement before it is reported as timed out (default '
                        f'{MEASUREMENT_TIMEOUT})')
    parser.add_argument('--json', default='benchmark_results.json', help='where to write all measurements')
    args = parser.parse_args(argv)
    RUN['timeout'] = args.timeout
    switches = None
    if args.switches:  # the float32 reference first, each setting once
        switches = [{}]
        for setting in (parse_switches(text, parser) for text in args.switches):
            if setting not in switches:
                switches.append(setting)
    if args.child:
        return run_child(json.loads(args.child))

    if args.device == 'auto':
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    else:
        device = precision.check_device(args.device)
    started = time.time()
    header = (f'RNAN benchmark, {datetime.date.today().isoformat()}, {machine_description(device)}; '
              f'official configuration (10 groups, 64 features), random weights; float32 rows with TF32 '
              f'{"allowed" if args.tf32 else "off"}')
    print(header)
    log, rows = [], []
    free = device_free_bytes(device)
    base = dict(device=str(device), repeats=args.repeats, tf32=args.tf32)
    workdir = tempfile.mkdtemp(prefix='rnan_benchmark_')  # every intermediate file; removed however the run ends
    try:
        exact_paths = {}
        for config in [] if args.no_variants else args.configs:
            for size in args.sizes:
                row = dict(config=config, size=size)
                for variant in VARIANTS:
                    spec = dict(base, kind='forward', config=config, size=size, variant=variant)
                    if size >= 256 or (variant == 'direct' and size >= 128):
                        spec['repeats'] = 1  # one long run; the warm-up already happened on a small input
                    needed = direct_attention_bytes(1, size)
                    if variant == 'direct' and free is not None and needed > 0.8 * free:
                        row['direct'] = dict(skipped=f'needs about {needed / 2**30:.0f} GB for the attention matrices, '
                                             f'{free / 2**30:.0f} GB free')
                        print(f'  skipping direct {config} {size}x{size}: {row["direct"]["skipped"]}')
                        continue
                    if variant == 'ours' and size == 256 and config == args.configs[0] and not args.no_tiling:
                        exact_paths[config] = osp.join(workdir, f'exact_{config}.npy')
                        spec['save_output'] = exact_paths[config]
                    row[variant] = measure(spec, log)
                rows.append(row)

        switch_rows = (None, [], [])
        if not args.no_precision:
            chosen = switches or (GPU_SETTINGS if device.type == 'cuda' else CPU_SETTINGS)
            settings = [dict(s, tf32=s.get('tf32', args.tf32)) for s in chosen
                        if not (args.no_compile and s.get('compile'))]
            switch_rows = measure_precision(base, settings, workdir, log, not args.no_train, args.precision_size,
                                            args.quality_steps)

        train = {}
        if not args.no_train and not args.no_variants:
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
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    data_result = None
    if not args.no_data:
        data_result = measure(dict(base, kind='data', rounds=args.data_rounds, samples=args.data_samples), log)

    report = render(header, rows, train, tiling, time.time() - started, switch_rows, data_result, device)
    print('\n' + report)
    from rnan_basicsr.utils.image_io import write_text  # atomic: an interrupted run leaves no half-written JSON

    write_text(args.json, json.dumps(dict(header=header, measurements=log, report=report), indent=1))
    print(f'\nAll measurements written to {args.json}')
    return 0


def _get(cell, key='time_s'):
    return None if not cell or 'error' in cell or 'skipped' in cell else cell.get(key)


def render(header, rows, train, tiling, seconds, switch_rows=(None, [], []), data_result=None, device=None):
    out = [f'_{header}; measured in {seconds / 60:.1f} min._']
    if rows:
        out += ['', '**Forward pass, one image, no gradient** (time: best of runs; memory: peak RSS of a fresh '
                'process)', '', '| config | size | floor s | ours s | direct s | speed-up (direct / ours) '
                '| ours / floor (time) | floor MB | ours MB | direct MB | ours / floor (memory) |', '|' + '---|' * 11]
    for row in rows:
        f, o, d = (row.get(v) for v in VARIANTS)
        speedup = ratio(_get(d), _get(o))
        direct_time = fmt(_get(d)) if 'skipped' not in (d or {}) else f'skipped ({d["skipped"]})'
        out.append(f'| {row["config"]} | {row["size"]}² | {fmt(_get(f))} | {fmt(_get(o))} | {direct_time} '
                   f'| {fmt_times(speedup)} | {fmt(ratio(_get(o), _get(f)))} | {fmt(_get(f, "peak_mb"), 0)} '
                   f'| {fmt(_get(o, "peak_mb"), 0)} | {fmt(_get(d, "peak_mb"), 0)} '
                   f'| {fmt(ratio(_get(o, "peak_mb"), _get(f, "peak_mb")))} |')
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
    out += render_switches(*switch_rows, device)
    out += render_data(data_result)
    out += ['', goals(rows, train, switch_rows, data_result)]
    return '\n'.join(out)


def render_switches(trained, forward_rows, train_rows, device):
    """The precision / speed table: one row per setting, forward and training step, quality against float32."""
    if trained is None:
        return []
    out = ['', f'**Precision and speed switches** (grey {trained.get("size", PRECISION_SIZE)}², official network, '
           f'ours; training step: '
           f'batch {SWITCH_TRAIN_BATCH}, {TRAIN_PATCH}×{TRAIN_PATCH}; quality against the float32 row)', '']
    if 'error' in trained:
        return out + [f'Quality network failed to train: {trained["error"]}']
    out.append(f'Quality network: RNAN {QUALITY_NET["num_feat"]} features, {QUALITY_NET["num_group"]} groups, '
               f'trained here for {trained["steps"]} steps ({fmt(trained["time_s"], 0)} s) on colour denoising '
               f'(σ {QUALITY_SIGMA}); on its held-out {trained["size"]}² image: noisy {fmt(trained["psnr_noisy_db"])} '
               f'dB, restored {fmt(trained["psnr_restored_db"])} dB (float32).')
    out += ['', '| setting | forward s | speed-up | PSNR vs float32, trained net (dB) | PSNR vs float32, official '
            'random weights (dB) | train step s | speed-up | step output PSNR vs float32 (dB) | gradient error vs '
            'float32 |', '|' + '---|' * 9]
    steps = {setting_label(setting): result for setting, result in train_rows}
    base_forward = _get(forward_rows[0][1]) if forward_rows else None
    base_step = _get(steps.get(setting_label(forward_rows[0][0]))) if forward_rows else None
    fell_back = []
    for setting, result in forward_rows:
        label = setting_label(setting)
        step = steps.get(label)
        for cell in (result, step):
            if setting.get('compile') and cell and 'error' not in cell and not cell.get('compiled', True):
                fell_back.append(label)
        out.append(f'| {label} | {fmt(_get(result))} | {fmt_times(ratio(base_forward, _get(result)))} '
                   f'| {fmt_db(_get(result, "psnr_trained_db"))} | {fmt_db(_get(result, "psnr_official_db"))} '
                   f'| {fmt(_get(step))} | {fmt_times(ratio(base_step, _get(step)))} '
                   f'| {fmt_db(_get(step, "psnr_trained_db"))} | {fmt(_get(step, "grad_rel_error"), 4)} |')
    first_calls = [f'{kind} {setting_label(s)} {fmt(r["first_call_s"])} s' for kind, rows in
                   (('forward', forward_rows), ('training step', train_rows))
                   for s, r in rows if 'error' not in r and r.get('compiled') and r.get('first_call_s') is not None]
    if first_calls:
        out.append('\nFirst call of the compiled rows (compilation included, not in the times above): '
                   + '; '.join(first_calls) + '.')
    both = (('forward', forward_rows), ('training step', train_rows))
    errors = [f'{kind} {setting_label(s)}: {r["error"]}' for kind, rows in both for s, r in rows if 'error' in r]
    if fell_back:
        out.append(f'\ntorch.compile could not run for {", ".join(sorted(set(fell_back)))}: those rows ran eagerly.')
    if errors:
        out.append('\nFailed: ' + '; '.join(errors))
    return out


def fmt_db(value):
    return '∞' if value == float('inf') else fmt(value)


def render_data(result):
    """Training samples/s of each dataset next to PairedImageDataset's on pre-made pairs of the same task."""
    if result is None:
        return []
    if 'error' in result:
        return ['', f'**Data pipeline**: failed: {result["error"]}']
    rates = result['samples_per_s']
    out = ['', f'**Data pipeline** (training samples/s, one process, one thread, no workers; LMDBs of the same '
           f'{DATA_SUB_IMAGE}² sub-images; gt_size {DATA_GT_SIZE})', '',
           '| task | ours | samples/s | PairedImageDataset on pre-made pairs, samples/s | ours / paired |',
           '|---|---|---|---|---|']
    for task, ours, paired in data_pairs(rates):
        out.append(f'| {task} | {ours} | {fmt(rates[ours], 0)} | {fmt(rates[paired], 0)} '
                   f'| {fmt(ratio(rates[ours], rates[paired]))} |')
    return out


def data_pairs(rates):
    """(task, our dataset's name, the matching PairedImageDataset's name) for the measured tasks."""
    ours = {'denoise': ['DenoisingDataset'], 'jpeg': ['JPEGArtifactDataset', 'JPEGArtifactDataset (Y LMDB)'],
            'demosaic': ['DemosaicingDataset']}
    return [(task, name, f'PairedImageDataset ({task})') for task in DATA_TASKS for name in ours[task]
            if name in rates and f'PairedImageDataset ({task})' in rates]


def verdict(value, passed):
    """``met`` / ``missed`` for a measured value and the test of its goal; ``not measured`` for None."""
    return 'not measured' if value is None else ('met' if passed(value) else 'missed')


def goals(rows, train, switch_rows=(None, [], []), data_result=None):
    """The performance goals of the project, checked against what was just measured."""
    lines = ['**Goals**']
    _, forward_rows, _ = switch_rows
    for setting, result in forward_rows:
        if setting.get('amp'):
            value = _get(result, 'psnr_trained_db')
            lines.append(f'- {setting_label(setting)}: output {fmt_db(value)} dB from float32 on the trained network '
                         f'(goal ≥ 40 {verdict(value, lambda v: v >= 40)})')
    if data_result and 'samples_per_s' in data_result:
        rates = data_result['samples_per_s']
        for task, ours, paired in data_pairs(rates):
            value = ratio(rates[ours], rates[paired])
            lines.append(f'- {ours}: {fmt(value)}× PairedImageDataset\'s samples/s (goal ≥ 0.9 '
                         f'{verdict(value, lambda v: v >= 0.9)})')
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
