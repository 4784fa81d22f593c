"""The memory column: the peak while the timed calls run (not the process's lifetime peak, which counts the imports,
the warm-up and compilation).

psutil reads a process's resident memory while it runs, portably; ``resource.getrusage`` only gives the lifetime
peak, which is what this column must not report.
"""
import psutil
import threading
import torch


class PeakMemory:
    """Context manager: ``peak_mb`` is the peak memory while the block ran, in MiB.

    On the CPU, a thread samples the resident set size (RSS) of this process every ``interval`` seconds (torch
    releases the GIL in its kernels, so the samples keep coming during a call); the peak is the largest sample, so a
    spike shorter than ``interval`` may be missed. On a GPU, it is CUDA's peak allocation (exact).
    """

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
