"""Kill a real `basicsr train` with SIGKILL at several points, then `--auto_resume`: nothing corrupt is used, and the
resumed run holds exactly the newest complete checkpoint (iteration, network, EMA, optimizer, scheduler, lr).

The kill points are made deterministic by tests/hooks/sitecustomize.py (test-only): the process stops just before
renaming a finished temporary checkpoint file onto its final name, or at the start of an iteration, and the test
kills it there.
"""
import contextlib
import glob
import os
import pytest
import signal
import subprocess
import time
import torch
import yaml
from conftest import BASICSR, ROOT, TEST_OPTIONS
from os import path as osp

HOOKS = osp.join(ROOT, 'tests', 'hooks')


def _write_options(cwd):
    with open(osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = 'crash'
    opt['model_type'] = 'RNANModel'  # whose checkpoints are atomic and ordered
    opt['network_g'].update(num_feat=4, num_group=2)
    opt['train'].update(total_iter=8, ema_decay=0.5)  # milestone 3: the learning rate halves at iteration 3
    opt['logger'].update(save_checkpoint_freq=2, print_freq=1)
    del opt['datasets']['val'], opt['val']  # validation is not what is tested here
    path = osp.join(cwd, 'crash.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f)
    return path


@pytest.fixture(autouse=True)
def _no_process_left_behind():
    """Every ``basicsr`` started by :func:`_start` is killed (with its process group) when the test ends, failed or
    not: a failed assertion while a run sleeps at its kill point would otherwise leave it running."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


_STARTED = []


def _start(cwd, opt_path, hook_dir, resume, **hold):
    os.makedirs(hook_dir, exist_ok=True)
    env = dict(os.environ, PYTHONWARNINGS='ignore', RNAN_TEST_HOOK_DIR=str(hook_dir), OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([HOOKS, os.environ.get('PYTHONPATH', ROOT)]))
    for key, value in hold.items():
        env[f'RNAN_TEST_HOLD_{key.upper()}'] = str(value)
    args = [BASICSR, 'train', '-opt', opt_path] + (['--auto_resume'] if resume else [])
    log = open(osp.join(hook_dir, 'stderr.txt'), 'w')
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _STARTED.append(proc)
    return proc, log


def _kill_when_holding(proc, log, hook_dir, timeout=240):
    holding = osp.join(hook_dir, 'holding')
    deadline = time.time() + timeout
    while not osp.exists(holding):
        assert proc.poll() is None, f'exited with {proc.returncode}: {_output(hook_dir)[-3000:]}'
        assert time.time() < deadline, 'the run did not reach the kill point'
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL
    log.close()
    with open(holding) as f:
        return f.read()


def _output(hook_dir):
    with open(osp.join(hook_dir, 'stderr.txt')) as f:
        return f.read()


def _assert_same(a, b, where='root'):
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), f'{where}: {sorted(a)} != {sorted(b)}'
        for key in a:
            _assert_same(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _assert_resumed_from(hook_dir, exp, iteration, lr):
    """The resumed process holds exactly training_states/<iteration>.state and models/net_g_<iteration>.pth."""
    dump = _load(osp.join(hook_dir, 'resumed_rank0.pth'))
    state, net = _load(exp / 'training_states' / f'{iteration}.state'), _load(exp / 'models' / f'net_g_{iteration}.pth')
    assert dump['iter'] == state['iter'] == iteration
    _assert_same(dump['net_g'], net['params'], 'net_g')
    _assert_same(dump['net_g_ema'], net['params_ema'], 'net_g_ema')
    _assert_same(dump['optimizers'], state['optimizers'], 'optimizers')
    _assert_same(dump['schedulers'], state['schedulers'], 'schedulers')
    assert dump['lr'] == [lr]
    assert {float(s['step']) for s in dump['optimizers'][0]['state'].values()} == {float(iteration)}  # Adam steps
    # the network is the trained one, not a fresh initialisation (the non-local W starts at zero)
    assert any(v.abs().sum() > 0 for k, v in dump['net_g'].items() if k.endswith('.W.weight'))


def _files(folder):
    return sorted(p.name for p in folder.iterdir())  # temporary files (.<name>.tmp<pid>) first


def _tensorboard_view(cwd, tag='losses/l_pix'):
    """(restart steps, steps of ``tag`` that TensorBoard shows): a SessionLog.START event at step s hides the
    events with step >= s read before it, as TensorBoard's event accumulator does."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog

    restarts, shown = [], []
    for path in sorted(glob.glob(str(cwd / 'tb_logger' / 'crash' / 'events.out.tfevents.*'))):
        for event in EventFileLoader(path).Load():
            if event.HasField('session_log') and event.session_log.status == SessionLog.START:
                restarts.append(event.step)
                shown = [step for step in shown if step < event.step]
            elif event.HasField('summary') and any(value.tag == tag for value in event.summary.value):
                shown.append(event.step)
    return restarts, shown


@pytest.mark.slow
def test_sigkill_anywhere_then_auto_resume(tiny_paired_data):
    cwd = tiny_paired_data
    opt_path = _write_options(cwd)
    exp = cwd / 'experiments' / 'crash'

    # 1. killed while saving the network of iteration 4 (its temporary file is written, not yet renamed)
    proc, log = _start(cwd, opt_path, cwd / 'hook1', resume=False, rename='net_g_4.pth')
    assert 'net_g_4.pth' in _kill_when_holding(proc, log, cwd / 'hook1')
    assert _files(exp / 'training_states') == ['2.state']
    assert [f for f in _files(exp / 'models') if not f.startswith('.')] == ['net_g_2.pth']
    assert any(f.startswith('.net_g_4.pth.tmp') for f in _files(exp / 'models'))  # the interrupted write

    # 2. resumes from 2; killed while saving the state of iteration 6 (net_g_6.pth is complete)
    proc, log = _start(cwd, opt_path, cwd / 'hook2', resume=True, rename='6.state')
    assert '6.state' in _kill_when_holding(proc, log, cwd / 'hook2')
    _assert_resumed_from(cwd / 'hook2', exp, 2, lr=1e-4)
    assert 'Resuming training from epoch: 0, iter: 2.' in _output(cwd / 'hook2')
    assert [f for f in _files(exp / 'training_states') if not f.startswith('.')] == ['2.state', '4.state']
    assert any(f.startswith('.6.state.tmp') for f in _files(exp / 'training_states'))  # the interrupted write
    assert 'net_g_6.pth' in _files(exp / 'models')
    assert not any(f.startswith('.net_g_4.pth.tmp') for f in _files(exp / 'models'))  # removed on resume

    # a newest state truncated by a writer that was not atomic (e.g. plain BasicSR) is skipped, with a warning
    good = (exp / 'training_states' / '4.state').read_bytes()
    (exp / 'training_states' / '8.state').write_bytes(good[:len(good) // 3])

    # 3. resumes from 4 (6.state is missing, 8.state is corrupt); killed between checkpoints, at iteration 7
    proc, log = _start(cwd, opt_path, cwd / 'hook3', resume=True, iter=7)
    assert 'iteration 7' in _kill_when_holding(proc, log, cwd / 'hook3')
    output = _output(cwd / 'hook3')
    assert '--auto_resume skips 8.state: cannot load training state' in output
    _assert_resumed_from(cwd / 'hook3', exp, 4, lr=5e-5)

    # 4. resumes from 6 (written by run 3, over run 2's orphan net_g_6.pth) and finishes
    proc, log = _start(cwd, opt_path, cwd / 'hook4', resume=True)
    assert proc.wait(240) == 0, _output(cwd / 'hook4')[-3000:]
    log.close()
    _assert_resumed_from(cwd / 'hook4', exp, 6, lr=5e-5)
    final = _load(exp / 'training_states' / '8.state')  # replaced the truncated one
    assert final['iter'] == 8 and {float(s['step']) for s in final['optimizers'][0]['state'].values()} == {8.0}
    _assert_same(_load(exp / 'models' / 'net_g_latest.pth'), _load(exp / 'models' / 'net_g_8.pth'))
    assert not [f for f in _files(exp / 'models') + _files(exp / 'training_states') if f.startswith('.')]
    assert not glob.glob(str(cwd / 'experiments' / 'crash_archived_*'))  # never restarted from scratch
    assert len(glob.glob(str(exp / 'train_crash_*.log'))) >= 1
    # each resumed run tells TensorBoard to hide what the killed run logged after the state it resumed from, and
    # what was logged up to a state was on disk with it: every iteration is shown once
    assert _tensorboard_view(cwd) == ([3, 5, 7], [1, 2, 3, 4, 5, 6, 7, 8])
