"""Two-process training on the CPU (gloo), launched like on a cluster: `torchrun ... --launcher pytorch`, and
`--launcher slurm` with the environment SLURM gives each task (a stand-in `scontrol` resolves the node list).

Checked: the run finishes; every rank ends with the same parameters, equal to what rank 0 saved; only rank 0 writes
checkpoints, states, the log file and TensorBoard events; the other rank's console stays quiet. Parameters per rank
are dumped by the test-only hook in tests/hooks/sitecustomize.py.
"""
import functools
import glob
import os
import pytest
import re
import resource
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import torch
import yaml
from conftest import BASICSR, ROOT, TEST_OPTIONS, require_command
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
    opt['model_type'] = 'RNANModel'  # whose checkpoints are atomic and ordered
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


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tiny_paired_data):
    require_command(TORCHRUN)
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


def _start_slurm_tasks(cwd, opt_path, hook_dir, limit_rank0_file_size=None):
    """What `srun --ntasks=2 basicsr train -opt ... --launcher slurm` starts on one node: BasicSR's own launcher
    reads SLURM_PROCID / SLURM_NTASKS / SLURM_NODELIST and asks `scontrol` for the master's host name.

    Returns [(Popen, log file)] of the two tasks, each in its own process group (killed by :func:`_end_tasks`)."""
    bin_dir = cwd / 'fake_slurm_bin'
    bin_dir.mkdir(exist_ok=True)
    scontrol = bin_dir / 'scontrol'
    scontrol.write_text('#!/bin/sh\necho 127.0.0.1\n')  # `scontrol show hostname <list>`: one host per line
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    procs = []
    for rank in (0, 1):
        env = _env(hook_dir, SLURM_PROCID=str(rank), SLURM_NTASKS='2', SLURM_NODELIST='node01', OMP_NUM_THREADS='1',
                   PATH=f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}')  # one thread per task, as torchrun
        for key in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            env.pop(key, None)
        limit = None
        if rank == 0 and limit_rank0_file_size:
            limit = functools.partial(resource.setrlimit, resource.RLIMIT_FSIZE,
                                      (limit_rank0_file_size, resource.RLIM_INFINITY))
        log = open(cwd / f'slurm_task{rank}.txt', 'w')
        procs.append((subprocess.Popen([BASICSR, 'train', '-opt', opt_path, '--launcher', 'slurm'], cwd=cwd, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=limit), log))
    return procs


def _end_tasks(procs, timeout):
    """The exit statuses of the tasks, each given until ``timeout`` seconds from now; what is left is killed."""
    deadline, codes = time.monotonic() + timeout, []
    try:
        for proc, _ in procs:
            codes.append(proc.wait(max(1, deadline - time.monotonic())))
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
            log.close()
    return codes


@pytest.mark.slow
def test_slurm_launcher_two_tasks_on_cpu(tiny_paired_data):
    cwd, hook_dir = tiny_paired_data, tiny_paired_data / 'hook'
    opt_path = _write_options(cwd, 'slurm')
    codes = _end_tasks(_start_slurm_tasks(cwd, opt_path, hook_dir), 600)
    outputs = [(cwd / f'slurm_task{rank}.txt').read_text() for rank in (0, 1)]
    assert codes == [0, 0], (outputs[0] + outputs[1])[-4000:]
    _check_run(cwd, 'slurm', hook_dir, outputs)


# ---------------------------------------------------------------------------------------------------------------------
# when one rank stops, every rank ends within seconds with the same line
# ---------------------------------------------------------------------------------------------------------------------
HOLD_LOCK = """
import sys, time
from rnan_basicsr.command.lock import RunLock
RunLock(sys.argv[1], 'experiment', 'basicsr train -opt other.yml').acquire()
print('locked', flush=True)
time.sleep(900)
"""


def _final_lines(output):
    return [line for line in output.splitlines() if line.startswith('basicsr:')]


def _hold_the_lock(cwd, name):
    holder = subprocess.Popen([sys.executable, '-c', HOLD_LOCK, str(cwd / 'experiments' / f'.{name}.lock')],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'locked'
    return holder


@pytest.mark.slow
def test_every_slurm_task_ends_when_rank_0_refuses_the_lock(tiny_paired_data):
    cwd = tiny_paired_data
    opt_path = _write_options(cwd, 'locked')
    holder = _hold_the_lock(cwd, 'locked')
    try:
        codes = _end_tasks(_start_slurm_tasks(cwd, opt_path, cwd / 'hook'), 180)  # not the 30-minute timeout
    finally:
        holder.kill()
        holder.wait(30)
    outputs = [(cwd / f'slurm_task{rank}.txt').read_text() for rank in (0, 1)]
    assert codes == [2, 2], outputs
    assert 'Traceback' not in outputs[0] + outputs[1], outputs
    line = f"basicsr: error: experiment 'locked' is already running: process {holder.pid} on"
    assert [_final_lines(o) for o in outputs] == [_final_lines(outputs[0])] * 2 and len(_final_lines(outputs[0])) == 1
    assert _final_lines(outputs[0])[0].startswith(line), outputs
    assert not (cwd / 'experiments' / 'locked').exists()


@pytest.mark.slow
def test_every_slurm_task_ends_when_rank_0_cannot_write_a_checkpoint(tiny_paired_data):
    cwd = tiny_paired_data
    opt_path = _write_options(cwd, 'full')
    with open(opt_path) as f:
        opt = yaml.safe_load(f)
    opt['network_g'].update(num_feat=8, num_group=3)  # 170 kB of weights: more than the 64 kB rank 0 may write
    with open(opt_path, 'w') as f:
        yaml.safe_dump(opt, f)
    codes = _end_tasks(_start_slurm_tasks(cwd, opt_path, cwd / 'hook', limit_rank0_file_size=64 * 1024), 300)
    outputs = [(cwd / f'slurm_task{rank}.txt').read_text() for rank in (0, 1)]
    assert codes == [1, 1], outputs
    assert 'Traceback' not in outputs[0] + outputs[1], outputs
    lines = [_final_lines(o) for o in outputs]
    assert lines[0] == lines[1] and len(lines[0]) == 1, outputs
    assert lines[0][0].startswith('basicsr: error: cannot write ') and 'File too large (errno 27)' in lines[0][0]


@pytest.mark.slow
def test_every_torchrun_rank_ends_when_rank_0_refuses_the_lock(tiny_paired_data):
    require_command(TORCHRUN)
    cwd = tiny_paired_data
    opt_path = _write_options(cwd, 'locked')
    holder = _hold_the_lock(cwd, 'locked')
    logs = cwd / 'torchrun_logs'
    proc = subprocess.Popen([TORCHRUN, '--standalone', '--nproc_per_node=2', '--log-dir', str(logs), '--redirects', '3',
                             '--no-python', 'basicsr', 'train', '-opt', opt_path, '--launcher', 'pytorch'], cwd=cwd,
                            env=_env(cwd / 'hook', PATH=f'{osp.dirname(BASICSR)}{os.pathsep}{os.environ["PATH"]}'),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(180)  # not the 30-minute timeout
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        holder.kill()
        holder.wait(30)
    outputs = []
    for rank in (0, 1):
        files = glob.glob(str(logs / '**' / 'attempt_0' / str(rank) / 'std*.log'), recursive=True)
        outputs.append(''.join(open(f).read() for f in sorted(files)))
    assert proc.returncode != 0
    assert 'Traceback' not in outputs[0] + outputs[1], outputs
    lines = [_final_lines(o) for o in outputs]
    assert lines[0] == lines[1] and len(lines[0]) == 1, outputs
    assert lines[0][0].startswith(f"basicsr: error: experiment 'locked' is already running: process {holder.pid}")


@pytest.mark.slow
def test_the_continue_command_printed_after_ctrl_c_under_torchrun_runs_as_printed(tiny_paired_data):
    """Ctrl-C (SIGINT to torchrun and its workers) after 2.state: each rank's line says to continue with torchrun's
    own command line; run as printed, it resumes from 2.state and finishes."""
    require_command(TORCHRUN)
    cwd = tiny_paired_data
    opt_path = _write_options(cwd, 'hint')
    path = f'{osp.dirname(BASICSR)}{os.pathsep}{os.environ.get("PATH", "")}'
    command = [TORCHRUN, '--standalone', '--nproc_per_node=2', '--no-python', 'basicsr', 'train', '-opt', opt_path,
               '--launcher', 'pytorch']
    hook_dir = cwd / 'hook'
    proc = subprocess.Popen(command, cwd=cwd, env=_env(hook_dir, PATH=path, RNAN_TEST_HOLD_ITER='3'),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        state = cwd / 'experiments' / 'hint' / 'training_states' / '2.state'
        deadline = time.time() + 300
        while not ((hook_dir / 'holding').exists() and state.exists()):  # rank 1 may hold before rank 0 saved
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.2)
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    hint = ('torchrun --standalone --nproc_per_node=2 --no-python basicsr train -opt '
            f'{opt_path} --auto_resume --launcher pytorch')
    lines = [line for line in err.splitlines() if line.startswith('basicsr: interrupted at iter ')]
    assert lines and all(line.endswith(f'; continue with: {hint}') for line in lines), err[-3000:]
    resumed = subprocess.run(shlex.split(hint), cwd=cwd, env=_env(hook_dir, PATH=path),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(r'Resuming training from epoch: \d+, iter: 2\.', resumed.stdout + resumed.stderr)
    assert sorted(p.name for p in (state.parent).iterdir()) == ['2.state', '4.state']
