"""Each compatibility patch of rnan_basicsr.compat: needed here, applied, idempotent, and doing its job."""
import os
import pytest
import socket
import subprocess
import sys
import textwrap
import torch
from collections import OrderedDict

import rnan_basicsr
from rnan_basicsr import compat
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.resume import load_resume_state, load_training_state


def _run_python(code, env=None, timeout=300):
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def test_apply_is_idempotent():
    assert compat.apply() == []  # everything was applied when rnan_basicsr was imported


def test_basicsr_version_check():
    assert compat.check_basicsr_version() >= '1.4.2'


def test_functional_tensor_alias():
    import basicsr.data.degradations  # noqa: F401  (fails without the alias on torchvision >= 0.17)
    import torchvision.transforms.functional_tensor as old_name  # noqa: F401  (what basicsr imports)
    assert compat.alias_functional_tensor() is False


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
        from basicsr.utils.registry import ARCH_REGISTRY
        import basicsr.train, basicsr.utils.dist_util
        assert 'RNAN' in ARCH_REGISTRY
        assert getattr(basicsr.train.load_resume_state, '_rnan_basicsr_patch', False)
        print('ok', rnan_basicsr.__version__)
        """
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('ok')


def _tiny_state(tmp_path, iteration=4):
    """A real optimizer/scheduler state as BasicSR's save_training_state writes it, plus the matching weights."""
    net = torch.nn.Conv2d(1, 1, 3)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [2])
    net(torch.rand(1, 1, 4, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    root = tmp_path / 'root' / 'experiments' / 'exp'
    (root / 'training_states').mkdir(parents=True)
    (root / 'models').mkdir()
    state = {'epoch': 1, 'iter': iteration, 'optimizers': [optimizer.state_dict()],
             'schedulers': [scheduler.state_dict()]}
    torch.save(state, root / 'training_states' / f'{iteration}.state')
    torch.save({'params': net.state_dict()}, root / 'models' / f'net_g_{iteration}.pth')
    return root


def _resume_opt(root, auto_resume=True, resume_state=None):
    return {
        'auto_resume': auto_resume,
        'name': 'exp',
        'network_g': {'type': 'RNAN'},
        'path': {
            'training_states': str(root / 'training_states'),
            'models': str(root / 'models'),
            'resume_state': resume_state,
        },
    }


def test_resume_is_patched_and_finds_states_under_the_root_path(tmp_path, monkeypatch):
    import basicsr.train
    assert basicsr.train.load_resume_state is load_resume_state
    root = _tiny_state(tmp_path)
    monkeypatch.chdir(tmp_path)  # BasicSR would look in ./experiments/exp/training_states: not there
    opt = _resume_opt(root)
    state = basicsr.train.load_resume_state(opt)
    assert state['iter'] == 4 and state['optimizers'][0]['state'][0]['step'] == 1
    assert opt['path']['resume_state'] == str(root / 'training_states' / '4.state')
    assert opt['path']['pretrain_network_g'] == str(root / 'models' / 'net_g_4.pth')  # set by check_resume
    # every tensor is on the CPU, whatever device saved it; the optimizer moves them to its parameters' device
    assert state['optimizers'][0]['state'][0]['exp_avg'].device.type == 'cpu'


def test_resume_without_cuda_in_a_process_where_cuda_calls_fail(tmp_path):
    """BasicSR's own load_resume_state calls torch.cuda.current_device(); ours must not touch CUDA at all."""
    root = _tiny_state(tmp_path)
    result = _run_python(f"""
        import torch
        def no_cuda(*args, **kwargs):
            raise AssertionError('CUDA was touched')
        torch.cuda.current_device = no_cuda
        import rnan_basicsr, basicsr.train
        opt = {_resume_opt(root, auto_resume=False, resume_state=str(root / 'training_states' / '4.state'))!r}
        state = basicsr.train.load_resume_state(opt)
        print('iter', state['iter'])
        """)
    assert result.returncode == 0, result.stderr
    assert 'iter 4' in result.stdout


def test_auto_resume_skips_a_corrupt_latest_state(tmp_path, capsys):
    root = _tiny_state(tmp_path, iteration=4)
    good = (root / 'training_states' / '4.state').read_bytes()
    (root / 'training_states' / '6.state').write_bytes(good[:len(good) // 2])  # killed while writing
    (root / 'models' / 'net_g_6.pth').write_bytes(b'')
    opt = _resume_opt(root)
    state = load_resume_state(opt)
    assert state['iter'] == 4
    assert '6.state' in capsys.readouterr().err


def test_states_are_loaded_with_weights_only_and_a_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned'

    class Payload:

        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))

    path = tmp_path / '8.state'
    torch.save({'epoch': 0, 'iter': 8, 'optimizers': [Payload()], 'schedulers': []}, path)
    with pytest.raises(InputError, match='cannot load training state'):
        load_training_state(str(path))
    assert not marker.exists()


def test_a_weights_file_given_as_resume_state_is_explained(tmp_path):
    path = tmp_path / 'net_g_1000.pth'
    torch.save({'params': OrderedDict(w=torch.zeros(1))}, path)
    with pytest.raises(InputError, match='is a network weights file, not a training state'):
        load_training_state(str(path))
    with pytest.raises(InputError, match='does not exist'):
        load_training_state(str(tmp_path / 'missing.state'))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason='the patches apply only without CUDA')
def test_distributed_init_and_ddp_without_cuda():
    result = _run_python(
        """
        import torch, torch.distributed as dist
        import rnan_basicsr
        from basicsr.utils.dist_util import init_dist, get_dist_info
        from basicsr.models.base_model import BaseModel
        from torch.nn.parallel import DistributedDataParallel
        init_dist('pytorch')  # BasicSR's launcher: NCCL and rank % cuda.device_count() without the patch
        assert dist.get_backend() == 'gloo', dist.get_backend()
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


def test_patched_functions_are_marked():
    import basicsr.utils.dist_util as dist_util
    from basicsr.models.base_model import BaseModel
    assert rnan_basicsr.compat._is_patched(BaseModel.model_to_device) == (not torch.cuda.is_available())
    assert rnan_basicsr.compat._is_patched(dist_util._init_dist_pytorch) == (not torch.cuda.is_available())
