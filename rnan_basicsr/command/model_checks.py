"""The rules of RNANModel's keys beyond the declared options, run by the pre-flight: ``mixed_precision`` on the device
the run will use, and ``val.tile`` (its overlap against its size).
"""
import torch

from rnan_basicsr import precision
from rnan_basicsr.test_time import check_tile
from rnan_basicsr.utils.errors import within


def check_model_options(opt):
    """All of RNANModel's rules on ``opt`` (the whole option dict). The device is the one BasicSR will use: CPU for
    ``num_gpu: 0``, otherwise CUDA."""
    device = device_of(opt)
    for section in ('train', 'val'):  # a basicsr test file has no train (the declared options refuse it)
        values = opt.get(section)
        if isinstance(values, dict):
            with within(section, 'mixed_precision'):
                precision.check_precision(device, values.get('mixed_precision'), f'{section}.mixed_precision')
    if isinstance(opt.get('val'), dict):
        with within('val', 'tile'):
            check_tile(opt['val'].get('tile'), 'val.tile')


def device_of(opt):
    """The device BasicSR's BaseModel will use for these options (before or after num_gpu: auto is resolved)."""
    num_gpu = opt['num_gpu']
    if num_gpu == 'auto':
        num_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return torch.device('cuda' if num_gpu else 'cpu')
