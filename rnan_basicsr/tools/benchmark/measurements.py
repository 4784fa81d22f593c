"""The measurements, each run in a fresh Python process so that its memory is not inflated by an earlier one:
``python -m rnan_basicsr.tools.benchmark.measurements '<Measurement as JSON>'`` prints ``RESULT <json>``. How the
calls are timed and their memory measured: docs/benchmark.md."""
import json
import numpy as np
import psutil
import random
import sys
import tempfile
import threading
import time
import torch

from rnan_basicsr import precision
from rnan_basicsr.tools.benchmark import fixtures
from rnan_basicsr.tools.benchmark.spec import CONFIGS, Measurement


class PeakMemory:
    """Context manager: ``peak_mb`` is the peak memory while the block ran (not the process's lifetime peak, which
    ``resource.getrusage`` gives), in MiB. On a GPU, CUDA's peak allocation; on the CPU, the largest resident set
    size that a thread sampled every ``interval`` seconds (torch releases the GIL in its kernels), so a shorter spike
    may be missed."""

    def __init__(self, device, interval=0.002):
        self.device, self.interval = torch.device(device), interval
        self.peak_mb = None
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._peak_bytes = 0

    def _sample(self):
        self._peak_bytes = max(self._peak_bytes, self._process.memory_info().rss)

    def _sample_until_stopped(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._sample()
            self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self._sample()
            self.peak_mb = self._peak_bytes / 2**20
        return False


def psnr_db(a, b):
    """BasicSR's ``calculate_psnr`` of two (1, C, H, W) arrays in [0, 1] (clipped), inf when equal."""
    from basicsr.metrics import calculate_psnr

    def to_255(x):
        return np.clip(np.asarray(x, np.float64)[0], 0, 1) * 255.

    return float(calculate_psnr(to_255(a), to_255(b), crop_border=0, input_order='CHW'))


def seconds_of(call, device):
    """The seconds of one ``call``, its CUDA work included."""
    synchronize = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    synchronize()
    start = time.perf_counter()
    call()
    synchronize()
    return time.perf_counter() - start


def time_calls(call, spec, device, compiled=False):
    """A warm-up ``call`` (kernels, allocator, Adam's state, compilation), then ``call`` timed with
    ``Timer.blocked_autorange`` for at least ``spec.repeats`` times the warm-up's duration (for a compiled row: of a
    second, compiled, call). ``first_call_s`` of a compiled row is the warm-up's time, compilation included."""
    first_s = seconds_of(call, device)
    one_call_s = seconds_of(call, device) if spec.switches.compile else first_s
    # imported here: importing torch.utils.benchmark logs a CUDA_HOME warning on machines without CUDA, and the parent
    # process (and --help) imports this module too
    from torch.utils.benchmark import Timer

    timer = Timer('call()', globals={'call': call}, num_threads=torch.get_num_threads())  # its default is 1 thread
    with PeakMemory(device) as memory:
        measured = timer.blocked_autorange(min_run_time=spec.repeats * one_call_s)
    times = [t / measured.number_per_run for t in measured.raw_times]
    return dict(time_s=measured.median, iqr_s=measured.iqr, times_s=times, runs=len(times) * measured.number_per_run,
                peak_mb=memory.peak_mb, compiled=compiled, first_call_s=first_s if spec.switches.compile else None)


def prepare(net, switches, device):
    """``net`` under the switches: (callable forward, input transform, autocast context factory)."""
    if switches.channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = precision.CompiledForward(net, enabled=switches.compile, what='compile')
    return (forward, lambda x: precision.channels_last(x, switches.channels_last),
            lambda: precision.autocast(device, switches.amp or 'fp32'))


def measure_forward(spec, device):
    """One image through the official network, no gradient: whole, or (``tiling``) in tiles compared with the whole
    image's output."""
    from rnan_basicsr.test_time import tile_forward

    channels = CONFIGS[spec.config]
    net = fixtures.build_network(channels, spec.variant, device).eval()
    forward_net, to_format, autocast = prepare(net, spec.switches, device)
    lq = to_format(fixtures.test_image(channels, spec.size).to(device))
    outputs = []

    def forward():
        with torch.inference_mode(), autocast():
            outputs[:] = [tile_forward(forward_net, lq, spec.tile, spec.overlap) if spec.tile else forward_net(lq)]

    result = time_calls(forward, spec, device, forward_net.is_compiled)
    out = outputs[0].float().cpu().numpy()
    if spec.save_output:
        np.save(spec.save_output, out)
    if spec.exact_output:
        exact = np.load(spec.exact_output)
        diff = np.clip(out, 0, 1) - np.clip(exact, 0, 1)
        result.update(max_abs_diff_255=float(np.abs(diff).max() * 255), psnr_vs_whole_db=psnr_db(out, exact))
    if spec.weights:  # the same switches on the trained network
        small = fixtures.build_model(fixtures.QUALITY_NET, device, spec.switches, pretrained=spec.weights)
        small, to_format, autocast = prepare(small.get_bare_model(small.net_g).eval(), spec.switches, device)
        noisy, _ = fixtures.quality_image(spec.size)
        with torch.inference_mode(), autocast():
            out = small(to_format(noisy.to(device)))
        np.savez(spec.quality_output, output=out.float().cpu().numpy())
    return result


def measure_train_step(spec, device):
    """``RNANModel.optimize_parameters`` on the official network (the spec's variant and switches), one batch."""
    channels = CONFIGS[spec.config]
    model = fixtures.build_model(fixtures.official_network(channels, spec.variant), device, spec.switches, spec.variant)
    model.feed_data(fixtures.training_batch(channels, spec.batch))
    result = time_calls(lambda: model.optimize_parameters(1), spec, device, model._train_forward.is_compiled)
    if spec.weights:  # one step's output and gradients on the trained network, same switches
        small = fixtures.build_model(fixtures.QUALITY_NET, device, spec.switches, pretrained=spec.weights)
        noisy, clean = fixtures.quality_image(spec.size)
        small.feed_data({'lq': noisy, 'gt': clean})
        small.optimize_parameters(1)  # a GradScaler (fp16) has unscaled the gradients in its step
        grads = torch.cat([p.grad.flatten() for p in small.get_bare_model(small.net_g).parameters()])
        np.savez(spec.quality_output, output=small.output.detach().float().cpu().numpy(), grads=grads.cpu().numpy())
    return result


def train_quality_net(spec, device):
    """Train the small network of the quality columns (float32 RNANModel, Adam lr 2e-3, L2) on colour denoising;
    save its weights and measure it on its held-out image."""
    model = fixtures.build_model(fixtures.QUALITY_NET, device, spec.switches, lr=2e-3)
    start = time.perf_counter()
    with PeakMemory(device) as memory:
        for iteration, batch in enumerate(fixtures.quality_batches(spec.steps), 1):
            model.feed_data(batch)
            model.optimize_parameters(iteration)
    seconds = time.perf_counter() - start
    net = model.get_bare_model(model.net_g).eval()
    noisy, clean = fixtures.quality_image(spec.size)
    with torch.inference_mode():
        out = net(noisy.to(device)).cpu()
    torch.save({'params': net.state_dict()}, spec.weights)
    return dict(time_s=seconds, peak_mb=memory.peak_mb, steps=spec.steps,
                size=spec.size, psnr_noisy_db=psnr_db(noisy.numpy(), clean.numpy()),
                psnr_restored_db=psnr_db(out.numpy(), clean.numpy()))


def measure_data(spec, device):
    """Training samples per second of each dataset, one thread, interleaved in rounds (machine load hits all)."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    random.seed(0)
    with tempfile.TemporaryDirectory() as root:
        datasets = fixtures.data_datasets(root)
        for dataset in datasets.values():  # warm-up: opens the LMDBs
            dataset[0]
        seconds = dict.fromkeys(datasets, 0.)
        with PeakMemory(device) as memory:
            for _ in range(spec.rounds):
                for name, dataset in datasets.items():
                    start = time.perf_counter()
                    for _ in range(spec.samples):
                        dataset[random.randrange(len(dataset))]
                    seconds[name] += time.perf_counter() - start
    total = spec.rounds * spec.samples
    return dict(samples_per_s={name: total / value for name, value in seconds.items()}, time_s=sum(seconds.values()),
                peak_mb=memory.peak_mb)


MEASURE = {'forward': measure_forward, 'train': measure_train_step, 'tiling': measure_forward, 'data': measure_data,
           'train_quality_net': train_quality_net}


def run(spec):
    """Measure ``spec`` in this process; returns the result dict."""
    import rnan_basicsr  # noqa: F401  (basicsr importable, RNAN and RNANModel in its registries)

    torch.set_grad_enabled(spec.kind in ('train', 'train_quality_net'))
    device = torch.device(spec.device)
    precision.set_tf32(spec.switches.tf32)  # float32 is IEEE float32 unless a row asks for TF32
    return MEASURE[spec.kind](spec, device)


if __name__ == '__main__':
    print('RESULT ' + json.dumps(run(Measurement.from_json(sys.argv[1]))), flush=True)
