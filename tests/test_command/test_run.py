"""The ``basicsr`` command owns the run: every mistake is refused before BasicSR creates, archives or writes anything,
one run per experiment, failures that cannot be missed, option files that cannot run code."""
import contextlib
import cv2
import os
import pytest
import resource
import shlex
import signal
import subprocess
import time
import torch
import yaml
from conftest import BASICSR, ROOT, TEST_OPTIONS, run_basicsr, synthetic_image
from os import path as osp

from rnan_basicsr.cli import main
from rnan_basicsr.command.lock import RunLock
from rnan_basicsr.options.yaml_rules import parse_option_value
from rnan_basicsr.utils.errors import EXIT_INPUT_ERROR, EXIT_RUN_ERROR

TINY = osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml')
HOOKS = osp.join(ROOT, 'tests', 'hooks')


def _error_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith('basicsr: error: ') and 'Traceback' not in err
    return lines[0]


def _snapshot(root):
    """Every folder under experiments/, results/ and tb_logger/, and every file with its size and modification time."""
    found = {}
    for top in ('experiments', 'results', 'tb_logger'):
        for folder, _, files in os.walk(root / top):
            found[osp.relpath(folder, root)] = 'folder'
            for name in files:
                path = osp.join(folder, name)
                found[osp.relpath(path, root)] = (os.path.getsize(path), os.stat(path).st_mtime_ns)
    return found


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A folder with tiny paired data and a finished 4-iteration run of train_tiny_rnan.yml (states at 2 and 4)."""
    import numpy as np
    root = tmp_path_factory.mktemp('run')
    rng = np.random.default_rng(0)
    for split, count in (('train', 4), ('val', 1)):
        for i in range(count):
            gt = synthetic_image(32, 32, seed=i + (100 if split == 'val' else 0))
            lq = np.clip(gt + rng.normal(0, 15, gt.shape), 0, 255).astype(np.uint8)
            for kind, img in (('gt', gt), ('lq', lq)):
                os.makedirs(root / 'datasets' / 'tiny' / split / kind, exist_ok=True)
                cv2.imwrite(str(root / 'datasets' / 'tiny' / split / kind / f'img{i:03d}.png'), img)
    result = run_basicsr(['train', '-opt', TINY], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    log = next((root / 'experiments' / 'tiny_rnan').glob('train_tiny_rnan_*.log')).read_text()
    assert 'Best' in log and '@ 4 iter' in log and '@ 5 iter' not in log  # the final validation reports 4, not 5
    return root


# ---------------------------------------------------------------------------------------------------------------------
# option files cannot run code; --force_yml values are YAML
# ---------------------------------------------------------------------------------------------------------------------
def test_a_python_tag_in_an_option_file_is_refused_before_it_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'evil.yml').write_text('name: !!python/object/apply:os.system ["touch pwned"]\n')
    assert main(['train', '-opt', 'evil.yml']) == EXIT_INPUT_ERROR
    line = _error_line(capsys)
    assert "evil.yml:1:7: the tag !!python/object/apply:os.system is refused" in line
    with open(TINY) as f:
        (tmp_path / 'ok.yml').write_text(f.read())
    assert main(['train', '-opt', 'ok.yml', '--force_yml', 'name=!!python/object/apply:os.system ["touch pwned"]'
                 ]) == EXIT_INPUT_ERROR
    assert 'the tag !!python/object/apply:os.system is refused' in _error_line(capsys)
    assert not (tmp_path / 'pwned').exists() and not (tmp_path / 'experiments').exists()


def test_basicsr_itself_reads_option_files_safely():
    import basicsr.utils.options as basicsr_options
    loader = basicsr_options.ordered_yaml()[0]
    with pytest.raises(yaml.YAMLError, match='python/object/apply:os.system'):
        yaml.load('name: !!python/object/apply:os.system ["true"]', Loader=loader)
    opt = yaml.load('b: 1\na: {y: !!float 1e-4, x: ~}\nc: [1, 2]\n', Loader=loader)
    assert list(opt) == ['b', 'a', 'c'] and list(opt['a']) == ['y', 'x'] and opt['a']['y'] == 1e-4
    assert basicsr_options._postprocess_yml_value('[0.9, 0.99]') == [0.9, 0.99]  # a YAML parse, not eval


@pytest.mark.parametrize('text, value', [('-5', -5), ('1e-4', 1e-4), ('-1.5', -1.5), ('!!float 2e-4', 2e-4),
                                         ('[0.9, 0.99]', [0.9, 0.99]), ('~', None), ('none', None), ('true', True),
                                         ('abc', 'abc'), ('[-1, 2]', [-1, 2])])
def test_force_yml_values_are_parsed_as_yaml_numbers_included(text, value):
    assert parse_option_value(text) == value and type(parse_option_value(text)) is type(value)


# ---------------------------------------------------------------------------------------------------------------------
# every mistake: one line, exit 2, the earlier run's folders exactly as they were
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('force, expected', [
    ('datasets:train:gt_size=1000', 'is 32x32, smaller than gt_size 1000'),
    ('train:optim_g:lr=-1', 'train.optim_g.lr must be > 0, got -1 (set by --force_yml).'),
    ('train:optim_g:betas=0.9', 'train.optim_g.betas must be a list, got 0.9 (set by --force_yml).'),
    ('train:optim_g:betas=[1.5,0.9]', 'train.optim_g: Adam refuses these options: Invalid beta parameter at index 0'),
    ('train:optim_g:weight_decay=-1', 'train.optim_g: Adam refuses these options: Invalid weight_decay value: -1'),
    ('train:optim_g:type=AdamX', "train.optim_g.type 'AdamX' is not supported by SRModel"),
    ('train:scheduler:gamma=abc', "train.scheduler.gamma must be a number, got 'abc'"),
    ('train:scheduler:gamma=-1', 'train.scheduler.gamma must be > 0, got -1'),
    ('train:scheduler:milestones=[3,2]', 'train.scheduler.milestones must be strictly increasing, got [3, 2]'),
    ('train:scheduler:milestones=[0,2]', 'train.scheduler.milestones.0 must be >= 1, got 0'),
    ('train:scheduler:type=Cosine', "train.scheduler.type 'Cosine' is not one of"),
    ('train:warmup_iter=10', 'train.warmup_iter must be -1 (no warm-up) or an integer in [0, total_iter)'),
    ('train:pixel_opt:loss_weight=-1', 'train.pixel_opt.loss_weight must be >= 0, got -1'),
    ('train:pixel_opt:reduction=avg', "train.pixel_opt.reduction must be 'none', 'mean' or 'sum', got 'avg'"),
    ('logger:print_freq=0', 'logger.print_freq must be >= 1, got 0'),
    ('num_gpu=2', 'num_gpu is 2 but this machine has'),
    ('network_g:num_feat=16', 'path.pretrain_network_g'),  # with the earlier run's weights, below
])
@pytest.mark.slow
def test_mistakes_are_refused_before_anything_is_written(force, expected, trained, monkeypatch, capsys):
    if force == 'num_gpu=2' and torch.cuda.device_count() >= 2:
        pytest.skip('this machine has two GPUs')
    monkeypatch.chdir(trained)
    before = _snapshot(trained)
    argv = ['train', '-opt', TINY, '--force_yml', force]
    if force.startswith('network_g'):  # weights of another network size as pretrain_network_g
        argv += ['path:pretrain_network_g=experiments/tiny_rnan/models/net_g_4.pth']
    for extra in ([], ['--auto_resume']):
        assert main(argv + extra) == EXIT_INPUT_ERROR
        assert expected in _error_line(capsys)
    assert _snapshot(trained) == before


@pytest.mark.slow
def test_auto_resume_with_nothing_left_to_train_is_one_line(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    before = _snapshot(trained)
    assert main(['train', '-opt', TINY, '--auto_resume']) == EXIT_INPUT_ERROR  # 4.state, total_iter 4
    line = _error_line(capsys)
    assert 'is at iteration 4 and train.total_iter is 4: nothing is left to train' in line, line
    assert _snapshot(trained) == before


@pytest.mark.parametrize('launcher, missing, start', [
    ('pytorch', 'RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT', 'torchrun --nproc_per_node=<processes> basicsr'),
    ('slurm', 'SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST', 'srun --ntasks=<processes> basicsr'),
])
def test_a_launcher_flag_outside_its_launcher_is_one_line(launcher, missing, start, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'):
        monkeypatch.delenv(key, raising=False)
    assert main(['train', '-opt', TINY, '--launcher', launcher]) == EXIT_INPUT_ERROR
    line = _error_line(capsys)
    assert line == (f'basicsr: error: --launcher {launcher}: {missing} not set, so this process was not started by '
                    f'{start.split()[0]}. Start it as {start} train -opt {TINY} --launcher {launcher}, or leave '
                    '--launcher out to run in one process.')
    assert os.listdir(tmp_path) == []


def test_the_continue_hint_keeps_the_launcher_that_started_the_run(monkeypatch):
    """torchrun: its own command line (the worker's parent), else what its environment tells; Slurm: srun with the
    task count of the job step."""
    from rnan_basicsr.cli import build_parser
    from rnan_basicsr.command import run
    for key in ('TORCHELASTIC_RUN_ID', 'SLURM_NTASKS', 'SLURM_NNODES'):
        monkeypatch.delenv(key, raising=False)
    args = build_parser().parse_args(['train', '-opt', 'my exp.yml', '--launcher', 'pytorch', '--force_yml',
                                      'train:total_iter=8'])
    tail = "train -opt 'my exp.yml' --auto_resume --launcher pytorch --force_yml train:total_iter=8"
    assert run._continue_hint(args) == f'basicsr {tail}'  # no torchrun environment: nothing to add
    monkeypatch.setenv('TORCHELASTIC_RUN_ID', 'abc')
    monkeypatch.setenv('WORLD_SIZE', '4')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    monkeypatch.setattr(run.sys, 'argv', ['/venv/bin/basicsr', 'train'])
    monkeypatch.setattr(run, 'parent_command', lambda: [
        '/venv/bin/python3', '/venv/bin/torchrun', '--nnodes=2', '--nproc_per_node=2', '--rdzv-endpoint=node1:29400',
        '--no-python', 'basicsr', 'train', '-opt', 'my exp.yml', '--launcher', 'pytorch'])
    assert run._continue_hint(args) == ('torchrun --nnodes=2 --nproc_per_node=2 --rdzv-endpoint=node1:29400 '
                                        f'--no-python basicsr {tail}')
    monkeypatch.setattr(run, 'parent_command', lambda: [
        '/venv/bin/python3', '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
        '/venv/bin/basicsr', 'train'])
    assert run._continue_hint(args) == ('/venv/bin/python3 -m torch.distributed.run --standalone --nproc_per_node 2 '
                                        f'/venv/bin/basicsr {tail}')
    monkeypatch.setattr(run, 'parent_command', lambda: [])  # no /proc: from the environment
    assert run._continue_hint(args) == f'torchrun --nnodes 2 --nproc_per_node 2 basicsr {tail}'
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert run._continue_hint(args) == f'torchrun --standalone --nnodes 1 --nproc_per_node 2 basicsr {tail}'
    args.launcher = 'slurm'
    monkeypatch.setenv('SLURM_NTASKS', '4')
    monkeypatch.setenv('SLURM_NNODES', '2')
    assert run._continue_hint(args) == f'srun --nodes 2 --ntasks 4 basicsr {tail.replace("pytorch", "slurm")}'


def test_sr_pairs_of_the_wrong_scale_are_refused_for_training_and_testing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for split in ('train', 'val'):
        for i in range(2):
            gt = synthetic_image(32, 32, seed=i)
            os.makedirs(tmp_path / 'datasets' / 'tiny_sr' / split / 'gt', exist_ok=True)
            os.makedirs(tmp_path / 'datasets' / 'tiny_sr' / split / 'lq', exist_ok=True)
            cv2.imwrite(str(tmp_path / 'datasets' / 'tiny_sr' / split / 'gt' / f'img{i:03d}.png'), gt)
            cv2.imwrite(str(tmp_path / 'datasets' / 'tiny_sr' / split / 'lq' / f'img{i:03d}.png'),
                        cv2.resize(gt, (8, 8), interpolation=cv2.INTER_AREA))  # x4 LR images
    weights = tmp_path / 'net.pth'
    from rnan_basicsr.archs.rnan_arch import RNAN
    torch.save({'params': RNAN(3, 3, num_feat=8, num_group=2, upscale=2).state_dict()}, weights)
    for kind, force in (('train', []), ('test', [f'path:pretrain_network_g={weights}'])):
        argv = [kind, '-opt', osp.join(TEST_OPTIONS, f'{kind}_tiny_rnan_sr_x2.yml')]
        assert main(argv + (['--force_yml', *force] if force else [])) == EXIT_INPUT_ERROR
        line = _error_line(capsys)
        assert 'is 8x8 and its HR image' in line and 'is 32x32, which does not fit scale 2' in line, line
        assert 'These LR images are x4.' in line
    assert sorted(os.listdir(tmp_path)) == ['datasets', 'net.pth']


def test_experiments_that_is_a_file_is_refused(trained, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    os.symlink(trained / 'datasets', tmp_path / 'datasets')
    (tmp_path / 'experiments').write_text('not a folder')
    assert main(['train', '-opt', TINY]) == EXIT_INPUT_ERROR
    assert "experiments' is a file, but BasicSR keeps the run's experiments there" in _error_line(capsys)


@pytest.mark.slow
def test_auto_resume_after_refused_reruns_continues_from_the_saved_iteration(trained, tmp_path):
    work = tmp_path / 'copy'
    subprocess.run(['cp', '-a', str(trained), str(work)], check=True)
    for force in ('train:optim_g:lr=-1', 'datasets:train:gt_size=1000'):
        assert run_basicsr(['train', '-opt', TINY, '--force_yml', force], cwd=work).returncode == EXIT_INPUT_ERROR
    assert sorted(os.listdir(work / 'experiments')) == ['tiny_rnan']  # nothing archived
    result = run_basicsr(['train', '-opt', TINY, '--auto_resume', '--force_yml', 'train:total_iter=6'], cwd=work)
    assert result.returncode == 0, result.stderr[-2000:]
    log = max((work / 'experiments' / 'tiny_rnan').glob('train_tiny_rnan_*.log'), key=os.path.getmtime).read_text()
    assert 'Resuming training from epoch: 1, iter: 4.' in log and '@ 6 iter' in log


# ---------------------------------------------------------------------------------------------------------------------
# one run per experiment
# ---------------------------------------------------------------------------------------------------------------------
def test_a_running_experiment_is_locked(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    before = _snapshot(trained)
    lock = RunLock(str(trained / 'experiments' / '.tiny_rnan.lock'), "experiment 'tiny_rnan'", 'basicsr train -opt x')
    assert lock.acquire() is None
    try:
        for extra in ([], ['--auto_resume']):
            assert main(['train', '-opt', TINY] + extra) == EXIT_INPUT_ERROR
            line = _error_line(capsys)
            assert f"experiment 'tiny_rnan' is already running: process {os.getpid()} on" in line
            assert 'basicsr train -opt x' in line
    finally:
        lock.release()
    assert _snapshot(trained) == before


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    dead = subprocess.Popen(['true'])
    dead.wait()
    path = tmp_path / '.exp.lock'
    path.write_text(f'{{"pid": {dead.pid}, "host": "{os.uname().nodename}", "started": 0, "command": "c"}}')
    lock = RunLock(str(path), "experiment 'exp'", 'basicsr train')
    warning = lock.acquire()
    assert warning and f'process {dead.pid}' in warning and 'no longer running' in warning
    lock.release()
    assert not path.exists()


def test_the_test_results_are_locked_too(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    lock = RunLock(str(trained / 'results' / '.tiny_rnan.lock'), 'results', 'basicsr test -opt y')
    lock.acquire()
    try:
        opt = yaml.safe_load(open(TINY))
        opt['datasets'] = {'test_1': opt['datasets']['val']}
        opt['path']['pretrain_network_g'] = 'experiments/tiny_rnan/models/net_g_4.pth'
        opt['val']['save_img'] = False
        del opt['train'], opt['logger']  # basicsr test does not read them
        (trained / 'test.yml').write_text(yaml.safe_dump(opt))
        assert main(['test', '-opt', 'test.yml']) == EXIT_INPUT_ERROR
        assert "the test results 'tiny_rnan' is already running" in _error_line(capsys)
    finally:
        lock.release()
    assert not (trained / 'results' / 'tiny_rnan').exists()


# ---------------------------------------------------------------------------------------------------------------------
# failures nobody can miss
# ---------------------------------------------------------------------------------------------------------------------
def test_a_file_size_limit_stops_the_run_with_one_line(trained, tmp_path):
    work = tmp_path / 'fsize'
    work.mkdir()
    os.symlink(trained / 'datasets', work / 'datasets')

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))  # the net is 170 kB

    env = dict(os.environ, PYTHONWARNINGS='ignore')
    result = subprocess.run([BASICSR, 'train', '-opt', TINY, '--force_yml', 'model_type=RNANModel'], cwd=work,
                            capture_output=True, text=True, env=env, preexec_fn=limit_file_size, timeout=600)
    assert result.returncode == EXIT_RUN_ERROR, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith('basicsr: error: cannot write ') and 'net_g_2.pth' in line, line
    assert 'File too large (errno 27).' in line and '--auto_resume' in line
    assert os.listdir(work / 'experiments' / 'tiny_rnan' / 'models') == []  # no partial file


def _group_members(pgid):
    """The pids of the live (not zombie) processes of the process group ``pgid``."""
    members = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != 'Z' and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _kill_group(proc):
    """Kill what is left of the process group of ``proc`` (started with ``start_new_session``)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=30)


def _wait_for(path, proc, timeout=300):
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    return path.exists()


def _held_run(trained, tmp_path, name, hold_iter):
    """A copy of the trained experiment in ``tmp_path/name`` and the environment whose test hook holds the run at
    iteration ``hold_iter`` (it creates ``hook_dir/holding`` then); returns ``(work, hook_dir, env)``."""
    work = tmp_path / name
    subprocess.run(['cp', '-a', str(trained), str(work)], check=True)
    hook_dir = tmp_path / 'hook'
    hook_dir.mkdir()
    env = dict(os.environ, PYTHONWARNINGS='ignore', RNAN_TEST_HOOK_DIR=str(hook_dir),
               RNAN_TEST_HOLD_ITER=str(hold_iter),
               PYTHONPATH=os.pathsep.join([HOOKS, os.environ.get('PYTHONPATH', ROOT)]))
    return work, hook_dir, env


def _as_in_a_terminal():
    """The signal dispositions of a terminal's foreground job: SIGINT reaches the shell. A test suite started in the
    background (``bash scripts/test.sh &``) runs with SIGINT ignored, which a shell cannot undo for itself."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_with_dataloader_workers_ends_the_run_and_the_script_in_one_line(trained, tmp_path):
    """Ctrl-C in a terminal: SIGINT to every process of the foreground group (the shell script, basicsr and its two
    DataLoader workers), twice, as an impatient user does."""
    work, hook_dir, env = _held_run(trained, tmp_path, 'sigint', hold_iter=7)
    train = [BASICSR, 'train', '-opt', TINY, '--auto_resume', '--force_yml', 'train:total_iter=8',
             'datasets:train:num_worker_per_gpu=2']
    script = f'{shlex.join(train)}; touch next_command_ran'  # a script that goes on to test: Ctrl-C must stop it
    proc = subprocess.Popen(['bash', '-c', script], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_as_in_a_terminal)
    try:
        assert _wait_for(hook_dir / 'holding', proc), proc.communicate(timeout=30)[1][-2000:]
        assert len(_group_members(proc.pid)) == 4  # bash, basicsr and its two workers
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:
        _kill_group(proc)
    assert 'Traceback' not in err and 'Interrupted' not in err, err[-3000:]
    state = work / 'experiments' / 'tiny_rnan' / 'training_states' / '6.state'
    lines = [line for line in err.splitlines() if line.startswith('basicsr:')]
    assert lines == [f'basicsr: interrupted at iter 7; last complete state {state}; continue with: basicsr train -opt '
                     f'{TINY} --auto_resume --force_yml train:total_iter=8 datasets:train:num_worker_per_gpu=2'], err
    assert err.strip().splitlines()[-1] == lines[0]
    assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT)  # bash ends by the signal, or reports it
    assert not (work / 'next_command_ran').exists()  # basicsr ended by SIGINT, so the script stopped
    deadline = time.time() + 10
    while _group_members(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _group_members(proc.pid) == []
    assert not (work / 'experiments' / '.tiny_rnan.lock').exists()


def test_sigterm_ends_basicsr_by_the_signal(trained, tmp_path):
    work, hook_dir, env = _held_run(trained, tmp_path, 'sigterm', hold_iter=5)
    proc = subprocess.Popen([BASICSR, 'train', '-opt', TINY, '--auto_resume', '--force_yml', 'train:total_iter=6'],
                            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert _wait_for(hook_dir / 'holding', proc), proc.communicate(timeout=30)[1][-2000:]
        os.killpg(proc.pid, signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        _kill_group(proc)
    assert proc.returncode == -signal.SIGTERM and 'Traceback' not in err, err[-2000:]
    assert err.strip().splitlines()[-1].startswith('basicsr: interrupted at iter 5; last complete state ')


def test_auto_resume_never_forgets_an_archived_state(trained, tmp_path, capsys, monkeypatch):
    work = tmp_path / 'archived'
    subprocess.run(['cp', '-a', str(trained), str(work)], check=True)
    os.rename(work / 'experiments' / 'tiny_rnan', work / 'experiments' / 'tiny_rnan_archived_20260101_000000')
    monkeypatch.chdir(work)
    assert main(['train', '-opt', TINY, '--auto_resume']) == EXIT_INPUT_ERROR
    line = _error_line(capsys)
    assert "the newest training state of experiment 'tiny_rnan' is iteration 4 in the archived folder" in line
    assert 'mv ' in line and 'tiny_rnan_archived_20260101_000000' in line
    assert sorted(os.listdir(work / 'experiments')) == ['tiny_rnan_archived_20260101_000000']


def test_the_last_log_line_of_a_run_shows_no_negative_eta():
    """BasicSR's MessageLogger counts one iteration too few left: at the last one it would print
    ``eta: -1 day, 23:59:59`` when iterations take a second or more (as after a resume, start-up included)."""
    import logging
    from basicsr.utils import MessageLogger

    from rnan_basicsr.command.preflight import _root_logger_untouched
    from rnan_basicsr.command.run import _NoNegativeETA

    records, eta = [], _NoNegativeETA()
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    with _root_logger_untouched():
        logger = logging.getLogger('basicsr')
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        opt = {'name': 'tiny', 'logger': {'print_freq': 1, 'use_tb_logger': False}, 'train': {'total_iter': 8}}
        messages = MessageLogger(opt, start_iter=6)
        messages.start_time -= 10  # iterations 7 and 8 took 5 s each
        for filtered in (False, True):
            if filtered:
                logger.addFilter(eta)
            messages({'epoch': 1, 'iter': 8, 'lrs': [1e-4], 'time': 5.0, 'data_time': 0.0})
        logger.removeFilter(eta)
    assert '[eta: -1 day, 23:59:5' in records[0] and '[eta: 0:00:00, time (data): 5.000' in records[1], records
