"""The parent side: each :class:`~.spec.Measurement` in a fresh process, the switch rows' quality against float32,
and what the machine can hold."""
import dataclasses
import json
import os
import platform
import subprocess
import sys
import torch
from os import path as osp

from rnan_basicsr.tools.benchmark.fixtures import QUALITY_STEPS
from rnan_basicsr.tools.benchmark.quality import add_quality
from rnan_basicsr.tools.benchmark.spec import PRECISION_SIZE, SWITCH_TRAIN_BATCH

MEASUREMENT_TIMEOUT = 600  # seconds; a measurement that takes longer is reported as timed out


class Runner:
    """Runs measurements in fresh processes and keeps every (spec, result) in ``log``."""

    def __init__(self, timeout=MEASUREMENT_TIMEOUT):
        self.timeout = timeout
        self.log = []

    def measure(self, spec):
        """Run ``spec`` in a fresh process; returns its result dict (with 'error' if it failed or timed out)."""
        print(f'  measuring {spec.label} ...', end='', flush=True)
        command = [sys.executable, '-m', 'rnan_basicsr.tools.benchmark.measurements', spec.to_json()]
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
        """Forward (grey ``size``²) and, with ``train``, training-step rows under each of ``settings``
        (:class:`~.spec.Switches`, float32 first), with their quality against the float32 row.

        With ``train``, a small network is trained first (``steps``) and every row runs it too. Without, nothing is
        trained: the forward rows' only quality is their PSNR on the official network (random weights).

        Returns (quality_net_result, or None without ``train``, forward_rows, train_rows); each row is (switches,
        result) with the quality keys ``psnr_official_db`` (forward) and, with ``train``, ``psnr_trained_db`` (and
        for the step ``grad_rel_error``) added.
        """
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


def direct_attention_bytes(batch, size):
    """The authors' block holds f and softmax(f), two (B, N, N) float32 matrices, at once."""
    n = size * size
    return 2 * batch * n * n * 4


def device_free_bytes(device):
    """Free memory for one measurement: available RAM on the CPU, free CUDA memory on a GPU (None if unknown)."""
    if device.type == 'cuda':
        try:
            return torch.cuda.mem_get_info(device)[0]
        except RuntimeError:
            return None
    import psutil

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
