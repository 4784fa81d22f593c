"""Two-process training on the CPU (gloo), launched like on a cluster: `torchrun ... --launcher pytorch`, and
`--launcher slurm` with the environment SLURM gives each task (a stand-in `scontrol` resolves the node list).

Checked: the run finishes; every rank ends with the same parameters, equal to what rank 0 saved; only rank 0 writes
checkpoints, states, the log file and TensorBoard events; the other rank's console stays quiet. Parameters per rank
are dumped by the test-only hook in tests/hooks/sitecustomize.py.
"""
import glob
import os
import pytest
import socket
import stat
import subprocess
import sys
import torch
import yaml
from conftest import BASICSR, ROOT, TEST_OPTIONS
from os import path as osp

HOOKS = osp.join(ROOT, 'tests', 'hooks')
TORCHRUN = osp.join(osp.dirname(sys.executable), 'torchrun')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write_options(cwd, name):
    with open(osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = name
    opt['network_g'].update(num_feat=4, num_group=2)
    opt['datasets']['train']['batch_size_per_gpu'] = 1  # 4 images, 2 ranks: 2 iterations per epoch
    opt['train']['total_iter'] = 4
    opt['dist_params']['port'] = _free_port()  # SLURM: the master port comes from dist_params
    path = osp.join(cwd, f'{name}.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f)
    return path


def _env(hook_dir, **extra):
    os.makedirs(hook_dir, exist_ok=True)
    return dict(os.environ, PYTHONWARNINGS='ignore', RNAN_TEST_HOOK_DIR=str(hook_dir),
                PYTHONPATH=os.pathsep.join([HOOKS, os.environ.get('PYTHONPATH', ROOT)]), **extra)


def _check_run(cwd, name, hook_dir, outputs):
    exp = cwd / 'experiments' / name
    assert sorted(p.name for p in (exp / 'training_states').iterdir()) == ['2.state', '4.state']
    assert sorted(p.name for p in (exp / 'models').iterdir()) == ['net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth']
    assert len(glob.glob(str(exp / f'train_{name}_*.log'))) == 1
    assert len(glob.glob(str(cwd / 'tb_logger' / name / 'events.out.tfevents.*'))) == 1
    log = open(glob.glob(str(exp / f'train_{name}_*.log'))[0]).read()
    assert 'World size (gpu number): 2' in log and 'iter:       4' in log and 'Validation TinyVal' in log

    rank0 = torch.load(hook_dir / 'final_rank0.pth', weights_only=True)
    rank1 = torch.load(hook_dir / 'final_rank1.pth', weights_only=True)
    saved = torch.load(exp / 'models' / 'net_g_latest.pth', weights_only=True)['params']
    assert rank0.keys() == rank1.keys() == saved.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
        assert torch.equal(rank0[key], saved[key]), key
    assert any(v.abs().sum() > 0 for k, v in rank0.items() if k.endswith('.W.weight'))  # trained (W starts at 0)

    # rank 1 logs errors only (BasicSR's logger); rank 0 logs the training
    assert 'INFO:' in outputs[0] and 'INFO:' not in outputs[1], outputs[1][-2000:]


@pytest.mark.skipif(not osp.exists(TORCHRUN), reason='torchrun is not installed beside this Python')
def test_torchrun_two_processes_on_cpu(tiny_paired_data):
    cwd, hook_dir = tiny_paired_data, tiny_paired_data / 'hook'
    opt_path = _write_options(cwd, 'ddp')
    logs = cwd / 'torchrun_logs'
    result = subprocess.run([TORCHRUN, '--standalone', '--nproc_per_node=2', '--log-dir', str(logs), '--redirects',
                             '3', '--no-python', 'basicsr', 'train', '-opt', opt_path, '--launcher', 'pytorch'],
                            cwd=cwd, env=_env(hook_dir, PATH=f'{osp.dirname(BASICSR)}{os.pathsep}'
                                              f'{os.environ.get("PATH", "")}'),
                            capture_output=True, text=True, timeout=600)
    outputs = []
    for rank in (0, 1):
        files = glob.glob(str(logs / '**' / 'attempt_0' / str(rank) / 'std*.log'), recursive=True)
        outputs.append(''.join(open(f).read() for f in sorted(files)))
    assert result.returncode == 0, (result.stderr + outputs[0] + outputs[1])[-4000:]
    _check_run(cwd, 'ddp', hook_dir, outputs)


def test_slurm_launcher_two_tasks_on_cpu(tiny_paired_data):
    """What `srun --ntasks=2 basicsr train -opt ... --launcher slurm` starts on one node: BasicSR's own launcher
    reads SLURM_PROCID / SLURM_NTASKS / SLURM_NODELIST and asks `scontrol` for the master's host name."""
    cwd, hook_dir = tiny_paired_data, tiny_paired_data / 'hook'
    opt_path = _write_options(cwd, 'slurm')
    bin_dir = cwd / 'fake_slurm_bin'
    bin_dir.mkdir()
    scontrol = bin_dir / 'scontrol'
    scontrol.write_text('#!/bin/sh\necho 127.0.0.1\n')  # `scontrol show hostname <list>`: one host per line
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    procs = []
    for rank in (0, 1):
        env = _env(hook_dir, SLURM_PROCID=str(rank), SLURM_NTASKS='2', SLURM_NODELIST='node01', OMP_NUM_THREADS='1',
                   PATH=f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}')  # one thread per task, as torchrun
        for key in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            env.pop(key, None)
        log = open(cwd / f'slurm_task{rank}.txt', 'w')
        procs.append((subprocess.Popen([BASICSR, 'train', '-opt', opt_path, '--launcher', 'slurm'], cwd=cwd, env=env,
                                       stdout=log, stderr=subprocess.STDOUT), log))
    codes = []
    for proc, log in procs:
        try:
            codes.append(proc.wait(600))
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    outputs = [(cwd / f'slurm_task{rank}.txt').read_text() for rank in (0, 1)]
    assert codes == [0, 0], (outputs[0] + outputs[1])[-4000:]
    _check_run(cwd, 'slurm', hook_dir, outputs)
