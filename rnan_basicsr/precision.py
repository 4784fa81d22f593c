"""How a network runs on a device: the device check, mixed precision (autocast), TF32, channels_last, torch.compile.

One policy for RNANModel, the inference tool and the benchmark; what each switch does and costs is on
docs/performance.md ("Mixed precision and speed switches").
"""
import contextlib
import functools
import sys
import time
import torch
import warnings

from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean

#: option value -> autocast dtype (None: no autocast)
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
PRECISION_NAMES = {'fp32': 'float32', 'bf16': 'bfloat16 autocast', 'fp16': 'float16 autocast'}


def check_device(device, what='--device'):
    """``torch.device(device)`` (``'cpu'``, ``'cuda:1'``, ``'mps'``..., or ``'auto'``: cuda if available, else cpu),
    or an InputError naming the setting as ``what`` (``--device``...) if this machine has no such device."""
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InputError(f'{what} {device!r} is not a device: {error}. Use cpu, cuda or cuda:<index>.') from None
    if device.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f'{what} {str(device)!r}: CUDA is not available on this machine (torch '
                             f'{torch.__version__}, CUDA build: {torch.version.cuda or "none"}). Use cpu.')
        if device.index is not None and device.index >= count:
            raise InputError(f'{what} {str(device)!r}: this machine has {count} CUDA GPU(s), numbered 0..{count - 1}. '
                             f'Use cuda:0 ... cuda:{count - 1} (CUDA_VISIBLE_DEVICES renumbers them).')
    elif device.type == 'mps' and not (hasattr(torch.backends, 'mps') and torch.backends.mps.is_available()):
        raise InputError(f'{what} mps: this machine has no usable Apple GPU. Use --device cpu.')
    return device


def parse_precision(value, what='precision'):
    """``'fp32'``, ``'bf16'`` or ``'fp16'`` for an option value (``None`` means fp32); InputError otherwise."""
    if value is None:
        return 'fp32'
    if value not in PRECISIONS:
        raise InputError(f'{what} must be one of fp32, bf16, fp16 (or ~ for fp32), got {value!r}.'
                         f'{did_you_mean(value, PRECISIONS)}')
    return value


@functools.lru_cache(maxsize=None)
def _autocast_runs(device_type, device_index, dtype):
    """'' if a convolution under autocast(dtype) runs on this device and gives ``dtype``; else why not."""
    device = torch.device(device_type, device_index) if device_index is not None else torch.device(device_type)
    if device_type == 'cuda' and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        return f'{torch.cuda.get_device_name(device)} has no bfloat16 support'
    try:
        conv = torch.nn.Conv2d(1, 1, 1).to(device)
        with torch.no_grad(), torch.autocast(device_type, dtype=dtype):
            out = conv(torch.ones(1, 1, 2, 2, device=device))
    except (RuntimeError, TypeError, ValueError) as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    if out.dtype != dtype:
        return f'autocast on {device_type} computes convolutions in {out.dtype}, not {dtype}'
    return ''


def check_precision(device, precision, what='precision'):
    """The precision's name ('fp32', 'bf16', 'fp16') if ``device`` can run it, else an InputError; asks the device
    itself (one cached 1x1 convolution under autocast), not a table of GPUs."""
    precision = parse_precision(precision, what)
    dtype = PRECISIONS[precision]
    if dtype is None:
        return precision
    device = torch.device(device)
    why = _autocast_runs(device.type, device.index, dtype)
    if why:
        other = 'bf16' if precision == 'fp16' else 'fp16'
        raise InputError(f'{what} {precision}: {device} cannot run {PRECISION_NAMES[precision]} ({why}). Use fp32 '
                         f'(~), or {other} if this device supports it.')
    return precision


def autocast(device, precision):
    """The autocast context for ``precision`` on ``device`` (a null context for fp32 / None)."""
    dtype = PRECISIONS[parse_precision(precision)]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def make_grad_scaler(device, precision):
    """A GradScaler for fp16 training (gradients scaled against float16 underflow); None for fp32 and bf16."""
    if parse_precision(precision) != 'fp16':
        return None
    return torch.amp.GradScaler(torch.device(device).type)


# torch >= 2.9 has per-backend ``fp32_precision`` flags beside the older ``allow_tf32`` ones, and the two do not mix:
# after ``torch.backends.cudnn.conv.fp32_precision = 'ieee'`` (or cuBLAS's), reading ``allow_tf32`` raises
# ("a mix of the legacy and new APIs"), and torch.export (the ONNX exporter) reads it. The ``allow_tf32`` flags keep
# both views consistent (measured on torch 2.14: setting them updates ``fp32_precision``), so they are used here.
def get_tf32():
    """(convolutions, matrix products): whether each may use TF32 for float32 on CUDA now."""
    return bool(torch.backends.cudnn.allow_tf32), bool(torch.backends.cuda.matmul.allow_tf32)


def set_tf32(conv, matmul=None):
    """Allow (True) or forbid (False) TF32 for float32 convolutions and matrix products (matmul defaults to conv)."""
    matmul = conv if matmul is None else matmul
    torch.backends.cudnn.allow_tf32 = bool(conv)
    torch.backends.cuda.matmul.allow_tf32 = bool(matmul)


@contextlib.contextmanager
def tf32(enabled):
    """Run the block with TF32 allowed (True) or forbidden (False) for convolutions and matmuls; restore after."""
    before = get_tf32()
    set_tf32(enabled)
    try:
        yield
    finally:
        set_tf32(*before)


def describe_tf32(device, enabled, option):
    """One line for the log: whether TF32 is in force for float32 work on ``device``, and the option to change it."""
    if torch.device(device).type != 'cuda':
        return f'TF32: not used on {torch.device(device).type} (CUDA only); {option}: {str(enabled).lower()}'
    if enabled:
        return (f'TF32: ON for float32 convolutions and matrix products ({option}: true): faster on Ampere and newer '
                'GPUs, ~1e-3 relative error')
    return f'TF32: off, float32 is IEEE float32 ({option}: false)'


def channels_last(tensor, enabled):
    """``tensor`` in channels_last memory format (NHWC) when ``enabled`` and 4-D; unchanged otherwise."""
    if enabled and tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def _is_compile_error(error):
    """Whether ``error`` comes from torch.compile itself (Dynamo, the backend, a missing compiler)."""
    from torch._dynamo.exc import TorchDynamoException

    module = type(error).__module__ or ''
    return isinstance(error, TorchDynamoException) or module.startswith(('torch._dynamo', 'torch._inductor'))


def _root_cause(error):
    """``Type: first line`` of the innermost cause of ``error`` (what the backend or the compiler said)."""
    seen = {id(error)}
    while True:
        inner = getattr(error, 'inner_exception', None) or error.__cause__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        error = inner
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'[:300]


class CompiledForward:
    """Call ``module`` through ``torch.compile``, or eagerly where compilation cannot run (with one warning). The
    module is never replaced, so its ``state_dict`` keys stay plain (no ``_orig_mod.``).

    Args:
        module (nn.Module): the network (parameters shared with the compiled version).
        enabled (bool): compile or not.
        what (str): how the warning names the switch (``train.compile``).
        logger (logging.Logger | None): where the fallback warning goes (also ``warnings.warn``).
        compile_kwargs (dict | None): passed to ``torch.compile`` (``mode``, ``backend``, ``dynamic``, ``fullgraph``).
    """

    def __init__(self, module, enabled=True, what='compile', logger=None, compile_kwargs=None):
        self.module = module
        self.what = what
        self.logger = logger
        self.compiled = None
        self._called = False
        if enabled:
            from torch import _dynamo

            if _dynamo.is_dynamo_supported():
                self.compiled = torch.compile(module, **(compile_kwargs or {}))
            else:
                self._fall_back(f'torch.compile does not support Python {sys.version.split()[0]} on this platform')

    def _fall_back(self, reason):
        self.compiled = None
        message = f'{self.what}: torch.compile cannot run here ({reason}); running the network eagerly instead.'
        self._log('warning', message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    @property
    def is_compiled(self):
        return self.compiled is not None

    def _log(self, level, message):
        if self.logger is not None:
            getattr(self.logger, level)(message)

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.module(*args, **kwargs)
        first, start = not self._called, time.perf_counter()
        self._called = True
        if first:  # compilation happens now, and takes minutes on a CPU: say so, or the first step looks hung
            self._log('info', f'{self.what}: compiling the network with torch.compile (first call; a new input shape '
                      'compiles again)...')
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as error:  # noqa: B902 - only compile failures are caught, the rest is re-raised
            if not _is_compile_error(error):
                raise
            # Dynamo also reports the network's own errors (a wrong input shape); those raise again here, eagerly and
            # readably, and compilation stays on
            out = self.module(*args, **kwargs)
            self._fall_back(_root_cause(error))
            return out
        if first:
            self._log('info', f'{self.what}: compiled in {time.perf_counter() - start:.1f} s.')
        return out


def unwrap_compiled(module):
    """The module inside a ``torch.compile`` wrapper (``OptimizedModule._orig_mod``), else ``module``."""
    while hasattr(module, '_orig_mod') and isinstance(module._orig_mod, torch.nn.Module):
        module = module._orig_mod
    return module
