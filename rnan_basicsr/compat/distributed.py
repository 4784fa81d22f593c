"""Distributed training on machines without CUDA: gloo instead of NCCL, DataLoader workers started as without a
launcher (forked on Linux), DDP without ``device_ids``."""
from unittest import mock

from rnan_basicsr.compat._patching import replace
from rnan_basicsr.options.schema import Options


def patch_dist_init_without_cuda():
    """Without CUDA, run both launchers of ``basicsr.utils.dist_util`` (NCCL, ``rank % torch.cuda.device_count()``)
    with gloo and a CPU stand-in for the device count, and set back the platform's start method ``init_dist``
    replaced by ``spawn`` (each DataLoader worker would import everything anew at each epoch: docs/clusters.md)."""
    import torch
    if torch.cuda.is_available():
        return False
    import basicsr.utils.dist_util as dist_util
    import torch.multiprocessing as mp

    patched = []
    for name in ('_init_dist_pytorch', '_init_dist_slurm'):
        def init_with_gloo(backend='gloo', *args, _original=getattr(dist_util, name), **kwargs):
            mp.set_start_method(mp.get_all_start_methods()[0], force=True)  # the first is the platform's default
            # for the launcher's ``rank % torch.cuda.device_count()`` and ``set_device``; restored when it returns
            with mock.patch.multiple(torch.cuda, device_count=lambda: 1, set_device=lambda device: None):
                return _original('gloo', *args, **kwargs)

        patched.append(replace(dist_util, name, init_with_gloo))
    return any(patched)


def patch_ddp_without_cuda():
    """Without CUDA, ``BaseModel.model_to_device`` builds DDP without its ``device_ids=[torch.cuda.current_device()]``
    for distributed CPU models; every other case goes to BasicSR's method."""
    import torch
    if torch.cuda.is_available():
        return False
    from basicsr.models.base_model import BaseModel
    from torch.nn.parallel import DistributedDataParallel

    original = BaseModel.model_to_device

    def model_to_device(self, net):
        if self.opt['dist'] and self.device.type == 'cpu':
            find_unused_parameters = Options.model_construct(**self.opt).find_unused_parameters
            return DistributedDataParallel(net.to(self.device), find_unused_parameters=find_unused_parameters)
        return original(self, net)

    return replace(BaseModel, 'model_to_device', model_to_device)
