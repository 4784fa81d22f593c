"""Each compatibility patch of rnan_basicsr.compat: needed here, applied, idempotent, and doing its job."""
import os
import pytest
import socket
import subprocess
import sys
import textwrap
import torch

from rnan_basicsr import compat
from rnan_basicsr.utils.errors import InputError


def _run_python(code, env=None, timeout=300):
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def test_apply_is_idempotent():
    assert compat.apply() == []  # everything was applied by conftest


#: code for a fresh process: patched() names what of BasicSR the command's fixes have replaced so far
_PATCHED = """
        import torch
        import basicsr.models.base_model as base_model, basicsr.train as train
        import basicsr.utils.options as options
        from basicsr.data.paired_image_dataset import PairedImageDataset

        def patched():
            targets = dict(ordered_yaml=options.ordered_yaml, yml_value=options._postprocess_yml_value,
                           load_resume_state=train.load_resume_state, init_tb_loggers=train.init_tb_loggers,
                           create_train_val_dataloader=train.create_train_val_dataloader,
                           build_model=train.build_model, save_network=base_model.BaseModel.save_network,
                           load_network=base_model.BaseModel.load_network,
                           resume_training=base_model.BaseModel.resume_training,
                           paired_getitem=PairedImageDataset.__getitem__)
            names = sorted(name for name, value in targets.items() if getattr(value, '_rnan_basicsr_patch', False))
            if base_model.torch is not torch:
                names.append('base_model.torch')
            return names
"""


def test_importing_the_plugin_changes_nothing_of_basicsr_until_apply_is_called():
    result = _run_python("""
        import rnan_basicsr
        from basicsr.utils.registry import ARCH_REGISTRY, MODEL_REGISTRY
        """ + _PATCHED + """
        assert 'RNAN' in ARCH_REGISTRY and 'RNANModel' in MODEL_REGISTRY
        assert base_model.torch is torch and options.ordered_yaml.__module__ == 'basicsr.utils.options'
        print('import:', patched())
        applied = rnan_basicsr.compat.apply()
        print('apply:', patched(), len(applied), rnan_basicsr.compat.apply())
        def instrumented(self, *args, **kwargs):  # e.g. a test hook wrapping the patched method
            pass
        base_model.BaseModel.save_network = instrumented
        assert rnan_basicsr.compat.apply() == [] and base_model.BaseModel.save_network is instrumented
        """)
    assert result.returncode == 0, result.stderr
    assert 'import: []' in result.stdout  # what each fix does is tested below, one test per fix
    assert f"'yml_value'] {len(compat.COMMAND_PATCHES)} []" in result.stdout and 'base_model.torch' not in result.stdout


def test_the_basicsr_command_applies_the_fixes_in_its_process(tmp_path):
    result = _run_python("""
        from rnan_basicsr.cli import main
        status = main(['train', '-opt', 'missing.yml'])
        """ + _PATCHED + """
        print('status', status, patched())
        """)
    assert result.returncode == 0, result.stderr
    assert "status 2 ['build_model'," in result.stdout and "'base_model.torch'" not in result.stdout


def test_basicsr_version_check():
    from packaging.version import Version
    assert Version(compat.check_basicsr_version()) in compat.SUPPORTED_BASICSR


def test_functional_tensor_alias():
    import basicsr.data.degradations  # noqa: F401  (fails without the alias on torchvision >= 0.17)
    import torchvision.transforms.functional_tensor as old_name  # noqa: F401  (what basicsr imports)
    assert compat.imports.alias_functional_tensor() is False


@pytest.mark.slow
@pytest.mark.parametrize('order', ['basicsr_first', 'twice'])
def test_import_order_and_reimport(order):
    code = {
        'basicsr_first':
        """
        import sys, torchvision.transforms._functional_tensor as ft
        sys.modules.setdefault('torchvision.transforms.functional_tensor', ft)
        import basicsr
        import rnan_basicsr
        """,
        'twice':
        """
        import importlib
        import rnan_basicsr, rnan_basicsr.archs.rnan_arch
        importlib.reload(rnan_basicsr)
        import rnan_basicsr
        """,
    }[order] + """
        rnan_basicsr.compat.apply()
        from basicsr.utils.registry import ARCH_REGISTRY
        import basicsr.train, basicsr.utils.dist_util
        assert 'RNAN' in ARCH_REGISTRY
        assert getattr(basicsr.train.load_resume_state, '_rnan_basicsr_patch', False)
        print('ok', rnan_basicsr.__version__)
        """
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('ok')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='the patches apply only without CUDA')
def test_distributed_init_and_ddp_without_cuda():
    result = _run_python(
        """
        import torch, torch.distributed as dist
        import rnan_basicsr
        rnan_basicsr.compat.apply()
        from basicsr.utils.dist_util import init_dist, get_dist_info
        from basicsr.models.base_model import BaseModel
        from torch.nn.parallel import DistributedDataParallel
        init_dist('pytorch')  # BasicSR's launcher: NCCL and rank % cuda.device_count() without the patch
        assert dist.get_backend() == 'gloo', dist.get_backend()
        # BasicSR's init_dist sets spawn: each DataLoader worker would import torch again, at every epoch
        mp = torch.multiprocessing
        assert mp.get_start_method() == mp.get_all_start_methods()[0], mp.get_start_method()  # fork on Linux
        model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': True})
        net = model.model_to_device(torch.nn.Conv2d(1, 1, 3))
        assert isinstance(net, DistributedDataParallel) and net.device_ids is None
        net(torch.rand(1, 1, 5, 5)).sum().backward()
        print('ok', get_dist_info())
        dist.destroy_process_group()
        """,
        env={'RANK': '0', 'LOCAL_RANK': '0', 'WORLD_SIZE': '1', 'MASTER_ADDR': '127.0.0.1',
             'MASTER_PORT': str(_free_port())})
    assert result.returncode == 0, result.stderr
    assert 'ok (0, 1)' in result.stdout


# ---------------------------------------------------------------------------------------------------------------------
# loading and resuming (every BasicSR model inherits these methods; RNANModel writes its own checkpoints)
# ---------------------------------------------------------------------------------------------------------------------
def _base_model(tmp_path, **path):
    from basicsr.models.base_model import BaseModel

    paths = {'models': str(tmp_path / 'models'), 'training_states': str(tmp_path / 'training_states')}
    paths.update(path)
    for folder in paths.values():
        os.makedirs(folder, exist_ok=True)
    model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': False, 'path': paths, 'network_g': {'type': 'RNAN'}})
    model.net_g = torch.nn.Conv2d(1, 2, 3)
    model.optimizers = [torch.optim.Adam(model.net_g.parameters(), 1e-3)]
    model.schedulers = [torch.optim.lr_scheduler.MultiStepLR(model.optimizers[0], [2])]
    return model


def test_pretrained_weights_load_with_weights_only_and_a_malicious_pickle_is_refused(tmp_path):
    model = _base_model(tmp_path)
    marker = tmp_path / 'pwned'

    class Payload:

        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))

    path = tmp_path / 'downloaded.pth'
    torch.save({'params': {'weight': torch.zeros(2, 1, 3, 3), 'bias': Payload()}}, path)
    with pytest.raises(InputError, match=r"cannot load network weights .*downloaded\.pth.*weights_only=True"):
        model.load_network(model.net_g, str(path))
    assert not marker.exists()

    good = tmp_path / 'good.pth'
    torch.save({'params': {'weight': torch.ones(2, 1, 3, 3), 'bias': torch.ones(2)}}, good)
    model.load_network(model.net_g, str(good))
    assert torch.equal(model.net_g.weight, torch.ones(2, 1, 3, 3))


def test_load_network_errors_name_the_file(tmp_path):
    model = _base_model(tmp_path)
    path = tmp_path / 'other.pth'
    torch.save({'params': {'weight': torch.ones(4, 1, 3, 3), 'bias': torch.ones(4)}}, path)
    with pytest.raises(InputError, match=r"other\.pth' do not fit Conv2d as configured: size mismatch for weight"):
        model.load_network(model.net_g, str(path))
    torch.save({'state_dict': {}}, path)
    with pytest.raises(InputError, match=r"have no 'params' entry"):
        model.load_network(model.net_g, str(path))
    state = tmp_path / '4.state'
    torch.save({'epoch': 0, 'iter': 4, 'optimizers': [], 'schedulers': []}, state)
    with pytest.raises(InputError, match=r"4\.state' is a BasicSR training state \(iteration 4\), not network weights"):
        model.load_network(model.net_g, str(state))


def test_tensorboard_only_on_rank_0_and_purged_after_the_resumed_state(tmp_path):
    import basicsr.train
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    opt = {'name': 'exp', 'root_path': str(tmp_path), 'logger': {'use_tb_logger': True}, 'rank': 1,
           'path': {'resume_state': None}}
    assert basicsr.train.init_tb_loggers(opt) is None and not (tmp_path / 'tb_logger').exists()
    opt.update(rank=0, path={'resume_state': str(tmp_path / 'experiments' / 'exp' / 'training_states' / '40.state')})
    writer = basicsr.train.init_tb_loggers(opt)
    writer.close()
    (events, ) = (tmp_path / 'tb_logger' / 'exp').iterdir()
    starts = [e.step for e in EventFileLoader(str(events)).Load() if e.HasField('session_log')]
    assert starts == [41]


def test_epochs_are_counted_from_the_batches_the_loader_yields(tmp_path):
    """BasicSR: ceil(5 images / batch 2) = 3 iterations per epoch, but the loader drops the last batch: 2."""
    import basicsr.train
    import logging
    from conftest import write_images
    for folder in ('gt', 'lq'):
        write_images(tmp_path / folder, 5, 16, 16)
    dataset = {'name': 'Five', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': 1, 'gt_size': 8,
               'dataroot_gt': str(tmp_path / 'gt'), 'dataroot_lq': str(tmp_path / 'lq'), 'io_backend': {'type': 'disk'},
               'use_hflip': False, 'use_rot': False, 'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}
    opt = {'datasets': {'train': dataset}, 'world_size': 1, 'rank': 0, 'num_gpu': 0, 'dist': False,
           'manual_seed': 0, 'train': {'total_iter': 12}}
    loader, _, _, total_epochs, total_iters = basicsr.train.create_train_val_dataloader(opt, logging.getLogger('t'))
    assert len(loader) == 2 and total_iters == 12
    assert total_epochs == 6  # BasicSR: ceil(12 / 3) = 4 epochs (+1 in its loop) = 10 iterations, not 12
    dataset['batch_size_per_gpu'] = 6
    with pytest.raises(InputError, match=r'datasets.train \(Five\) has 5 item\(s\).*not one full batch of 6'):
        basicsr.train.create_train_val_dataloader(opt, logging.getLogger('t'))


def test_a_paired_image_that_does_not_decode_is_named(tiny_paired_data):
    from basicsr.data.paired_image_dataset import PairedImageDataset

    root = tiny_paired_data / 'datasets' / 'tiny' / 'val'
    lq = root / 'lq' / 'img000.png'
    data = bytearray(lq.read_bytes())
    data[60:90] = bytes(b ^ 0x55 for b in data[60:90])  # damaged pixel data: OpenCV returns None
    lq.write_bytes(bytes(data))
    dataset = PairedImageDataset({'name': 'TinyVal', 'phase': 'val', 'scale': 1, 'dataroot_gt': str(root / 'gt'),
                                  'dataroot_lq': str(root / 'lq'), 'io_backend': {'type': 'disk'}})
    with pytest.raises(InputError, match=r"img000.png' \(lq of datasets.val \(TinyVal\)\) cannot be decoded"):
        dataset[0]  # BasicSR: AttributeError: 'NoneType' object has no attribute 'astype'
