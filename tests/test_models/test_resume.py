"""Resuming (compat.resume loads, models.resume_policy chooses and checks): which training state `--auto_resume` /
`resume_state` use, the schedule a resumed run trains, and the errors for mistakes.

The experiments here are written as BasicSR writes them (a tiny RNAN trained a few Adam steps with BasicSR's
MultiStepRestartLR; `{'params': ...}` weights and `{'epoch', 'iter', 'optimizers', 'schedulers'}` states).
"""
import hashlib
import os
import pytest
import re
import subprocess
import sys
import textwrap
import torch
import yaml
from collections import OrderedDict
from conftest import TEST_OPTIONS, run_basicsr

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.cli import EXIT_INPUT_ERROR, main
from rnan_basicsr.compat.resume import load_resume_state
from rnan_basicsr.models.resume_policy import (load_training_state, newest_training_state, remove_stale_temp_files,
                                               resume_iteration)
from rnan_basicsr.utils.errors import InputError

TINY_NET = {'type': 'RNAN', 'num_in_ch': 1, 'num_out_ch': 1, 'num_feat': 4, 'num_group': 2}


def _write_experiment(root, name='exp', iterations=(2, 4), network=TINY_NET, seed=0, lr=1e-3, milestones=(3, )):
    """experiments/<name>/{models,training_states} under ``root`` with a pair at each of ``iterations``; the
    scheduler is stepped as ``train_pipeline`` steps it (from iteration 2 on, before the optimizer)."""
    from basicsr.models.lr_scheduler import MultiStepRestartLR
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in network.items() if k != 'type'}
    net = RNAN(**kwargs)
    optimizer = torch.optim.Adam(net.parameters(), lr)
    scheduler = MultiStepRestartLR(optimizer, milestones=list(milestones), gamma=0.5)
    exp = root / 'experiments' / name
    (exp / 'models').mkdir(parents=True, exist_ok=True)
    (exp / 'training_states').mkdir(exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend on a busy machine (10x slower)
    try:
        for iteration in range(1, max(iterations) + 1):
            if iteration > 1:
                scheduler.step()
            net(torch.rand(1, kwargs['num_in_ch'], 4, 4)).square().mean().backward()
            optimizer.step()
            if iteration in iterations:
                torch.save({'params': net.state_dict()}, exp / 'models' / f'net_g_{iteration}.pth')
                torch.save({'epoch': iteration // 2, 'iter': iteration, 'optimizers': [optimizer.state_dict()],
                            'schedulers': [scheduler.state_dict()]}, exp / 'training_states' / f'{iteration}.state')
    finally:
        torch.set_num_threads(threads)
    return exp


def _opt(root, name='exp', auto_resume=True, resume_state=None, network=TINY_NET):
    """The options as BasicSR's parse_options returns them for a training run in ``root``."""
    exp = root / 'experiments' / name
    return {
        'name': name, 'auto_resume': auto_resume, 'rank': 0, 'network_g': dict(network),
        'path': {'experiments_root': str(exp), 'models': str(exp / 'models'),
                 'training_states': str(exp / 'training_states'), 'resume_state': resume_state,
                 'pretrain_network_g': None},
    }


def test_auto_resume_is_patched_and_finds_states_under_the_root_path(tmp_path, monkeypatch):
    import basicsr.train
    assert basicsr.train.load_resume_state is load_resume_state
    exp = _write_experiment(tmp_path / 'root')
    monkeypatch.chdir(tmp_path)  # BasicSR would look in ./experiments/exp/training_states: not there
    opt = _opt(tmp_path / 'root')
    state = basicsr.train.load_resume_state(opt)
    assert state['iter'] == 4 and float(state['optimizers'][0]['state'][0]['step']) == 4
    assert opt['path']['resume_state'] == str(exp / 'training_states' / '4.state')
    assert opt['path']['pretrain_network_g'] == str(exp / 'models' / 'net_g_4.pth')  # set by check_resume
    # every tensor is on the CPU, whatever device saved it; the optimizer moves them to its parameters' device
    assert state['optimizers'][0]['state'][0]['exp_avg'].device.type == 'cpu'
    assert resume_iteration(opt) == 4


def test_nothing_left_to_train_is_refused_with_the_saved_iteration(tmp_path):
    """train.total_iter at or below the saved iteration: BasicSR would train nothing, validate and exit 0."""
    from rnan_basicsr.models.resume_policy import choose_resume_state
    exp = _write_experiment(tmp_path)
    for total_iter in (4, 3):
        opt = dict(_opt(tmp_path), train={'total_iter': total_iter})
        with pytest.raises(InputError, match=rf"--auto_resume: training state '.*4\.state' is at iteration 4 and "
                           rf'train.total_iter is {total_iter}: nothing is left to train .*--force_yml '
                           r'train:total_iter=8\)'):
            choose_resume_state(opt)
    opt = dict(_opt(tmp_path, auto_resume=False, resume_state=str(exp / 'training_states' / '2.state')),
               train={'total_iter': 2})
    with pytest.raises(InputError, match='path.resume_state: training state .* is at iteration 2'):
        choose_resume_state(opt)
    assert choose_resume_state(dict(_opt(tmp_path), train={'total_iter': 5}))[0]['iter'] == 4


@pytest.mark.slow
def test_resume_without_cuda_in_a_process_where_cuda_calls_fail(tmp_path):
    """BasicSR's own load_resume_state calls torch.cuda.current_device(); ours must not touch CUDA at all."""
    exp = _write_experiment(tmp_path)
    opt = _opt(tmp_path, auto_resume=False, resume_state=str(exp / 'training_states' / '2.state'))
    code = f"""
        import torch
        def no_cuda(*args, **kwargs):
            raise AssertionError('CUDA was touched')
        torch.cuda.current_device = no_cuda
        import rnan_basicsr, basicsr.train
        rnan_basicsr.compat.apply()  # what the basicsr command does
        state = basicsr.train.load_resume_state({opt!r})
        print('iter', state['iter'])
        """
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stderr
    assert 'iter 2' in result.stdout


@pytest.mark.parametrize('damage', ['truncated state', 'truncated network', 'empty network', 'missing network'])
def test_auto_resume_skips_a_damaged_newest_pair_and_names_it(damage, tmp_path, capsys):
    exp = _write_experiment(tmp_path, iterations=(2, 4, 6))
    state, network = exp / 'training_states' / '6.state', exp / 'models' / 'net_g_6.pth'
    if damage == 'truncated state':
        state.write_bytes(state.read_bytes()[:1000])
    elif damage == 'truncated network':
        network.write_bytes(network.read_bytes()[:-100])
    elif damage == 'empty network':
        network.write_bytes(b'')
    else:
        network.unlink()
    assert load_resume_state(_opt(tmp_path))['iter'] == 4
    err = capsys.readouterr().err
    assert err.startswith('rnan_basicsr: warning: --auto_resume skips 6.state: ')
    assert ('6.state' if damage == 'truncated state' else 'net_g_6.pth') in err.split('skips 6.state')[1]


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


def test_no_state_at_all_starts_fresh(tmp_path, capsys):
    assert load_resume_state(_opt(tmp_path)) is None  # no experiment folder yet: the first run of a job script
    (tmp_path / 'experiments' / 'exp' / 'training_states').mkdir(parents=True)
    assert load_resume_state(_opt(tmp_path)) is None
    assert capsys.readouterr().err == ''


def test_a_run_killed_during_its_first_checkpoint_starts_fresh_with_a_warning(tmp_path, capsys):
    exp = _write_experiment(tmp_path, iterations=(2, ))
    (exp / 'training_states' / '2.state').unlink()  # killed between net_g_2.pth and 2.state
    assert load_resume_state(_opt(tmp_path)) is None
    assert 'the run stopped while writing its first checkpoint, iteration 2); starting from iteration 0' in (
        capsys.readouterr().err)


def test_checkpoints_without_any_state_are_an_error_not_a_silent_restart(tmp_path):
    """BasicSR #718: training_states/ is empty while models/ holds checkpoints; BasicSR would archive the folder and
    train from iteration 0."""
    exp = _write_experiment(tmp_path, iterations=(2, 4, 6))
    for state in (exp / 'training_states').iterdir():
        state.unlink()
    with pytest.raises(InputError) as error:
        load_resume_state(_opt(tmp_path))
    message = str(error.value)
    assert 'holds network checkpoints (net_g_2.pth, net_g_4.pth, net_g_6.pth)' in message
    assert 'has no training state, so training cannot continue where it stopped' in message
    assert 'set path.pretrain_network_g to one of them under a new name' in message
    assert 'run without --auto_resume (BasicSR then renames experiments/exp to exp_archived_<time>)' in message
    # the same when the states exist but none can be used
    (exp / 'training_states' / '6.state').write_bytes(b'garbage')
    with pytest.raises(InputError, match=r'has only unusable states \(6\.state, see the warnings above\)'):
        load_resume_state(_opt(tmp_path))


def test_resume_state_of_another_experiment_is_an_error(tmp_path):
    exp = _write_experiment(tmp_path, name='rnan_dn')
    opt = _opt(tmp_path, name='rnan_dn_v2', auto_resume=False, resume_state=str(exp / 'training_states' / '4.state'))
    with pytest.raises(InputError, match=r"belongs to experiment 'rnan_dn', but name is 'rnan_dn_v2'.*Set name: "
                       r"rnan_dn to continue that experiment"):
        load_resume_state(opt)


def test_resume_state_whose_network_file_is_missing(tmp_path):
    exp = _write_experiment(tmp_path)
    (exp / 'models' / 'net_g_4.pth').unlink()
    opt = _opt(tmp_path, auto_resume=False, resume_state=str(exp / 'training_states' / '4.state'))
    with pytest.raises(InputError, match=r"needs its network weights .*net_g_4\.pth', which do not exist"):
        load_resume_state(opt)


@pytest.mark.parametrize('change', ['num_feat', 'scale'])
def test_state_from_a_different_network_or_scale_is_an_error(change, tmp_path):
    if change == 'num_feat':
        saved, now = TINY_NET, dict(TINY_NET, num_feat=6)
    else:
        saved = dict(TINY_NET, num_in_ch=3, num_out_ch=3, upscale=2)
        now = dict(saved, upscale=4)
    exp = _write_experiment(tmp_path, network=saved)
    for auto_resume in (True, False):
        opt = _opt(tmp_path, auto_resume=auto_resume, resume_state=str(exp / 'training_states' / '4.state'),
                   network=now)
        with pytest.raises(InputError, match=r"4\.state' is from a different network: its weights .*net_g_4\.pth' do "
                           r'not fit network_g \(RNAN\): .*network_g or scale was changed since it was saved'):
            load_resume_state(opt)


def test_stale_temporary_files_are_removed_by_rank_0_only(tmp_path):
    exp = _write_experiment(tmp_path)
    dead_pid = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                              text=True).stdout.strip()
    stale = exp / 'models' / f'.net_g_6.pth.tmp{dead_pid}'
    live = exp / 'training_states' / f'.6.state.tmp{os.getpid()}'  # a process that is still writing
    stale.write_bytes(b'partial')
    live.write_bytes(b'partial')
    assert remove_stale_temp_files(dict(_opt(tmp_path), rank=1)) == []
    assert remove_stale_temp_files(_opt(tmp_path)) == [str(stale)]
    assert live.exists() and not stale.exists()


# ---------------------------------------------------------------------------------------------------------------------
# the same mistakes through the command: one line, exit status 2, nothing created or renamed
# ---------------------------------------------------------------------------------------------------------------------
def _options_file(tmp_path, name='tiny_rnan', train=None, **path):
    with open(os.path.join(TEST_OPTIONS, 'train_tiny_rnan.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = name
    opt['network_g'].update(num_in_ch=3, num_out_ch=3, num_feat=4, num_group=2)
    opt['path'].update(path)
    opt['train'].update(train or {})
    file = tmp_path / 'options.yml'
    file.write_text(yaml.safe_dump(opt))
    return str(file)


def _error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith('basicsr: error: ')]
    assert len(lines) == 1
    return lines[0]


def test_resume_mistakes_from_the_command(tiny_paired_data, monkeypatch, capsys):
    cwd = tiny_paired_data
    monkeypatch.chdir(cwd)
    colour = dict(TINY_NET, num_in_ch=3, num_out_ch=3)
    exp = _write_experiment(cwd, name='tiny_rnan', network=colour)
    before = sorted(os.listdir(cwd / 'experiments'))

    weights = str(exp / 'models' / 'net_g_4.pth')
    assert main(['train', '-opt', _options_file(cwd, resume_state=weights)]) == EXIT_INPUT_ERROR
    assert 'is a network weights file, not a training state' in _error_line(capsys)

    state = str(exp / 'training_states' / '4.state')
    assert main(['train', '-opt', _options_file(cwd, name='other', resume_state=state)]) == EXIT_INPUT_ERROR
    assert "belongs to experiment 'tiny_rnan', but name is 'other'" in _error_line(capsys)

    assert main(['train', '-opt', _options_file(cwd), '--auto_resume', '--force_yml',
                 'network_g:num_feat=8']) == EXIT_INPUT_ERROR
    assert 'is from a different network' in _error_line(capsys)

    for path in (exp / 'training_states').iterdir():
        path.unlink()
    assert main(['train', '-opt', _options_file(cwd), '--auto_resume']) == EXIT_INPUT_ERROR
    assert 'holds network checkpoints (net_g_2.pth, net_g_4.pth) but' in _error_line(capsys)
    assert sorted(os.listdir(cwd / 'experiments')) == before and not (cwd / 'tb_logger').exists()


def _md5s(folder):
    found = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(parent, name), 'rb') as f:
                found[os.path.join(parent, name)] = hashlib.md5(f.read()).hexdigest()
    return found


def _logged_lrs(log):
    """``{iteration: lr}`` from the lines BasicSR's MessageLogger writes (``iter:   3, lr:(1.000e-04,)``)."""
    return {int(it): float(lr) for it, lr in re.findall(r'iter:\s*(\d+), lr:\(([0-9.e+-]+),\)', log)}


@pytest.mark.slow
def test_auto_resume_with_new_milestones_trains_the_option_file_s_schedule(tiny_paired_data, monkeypatch, capsys):
    """`--auto_resume --force_yml train:total_iter=4 'train:scheduler:milestones=[3]'` after 2 iterations with
    milestones [2]: BasicSR kept the state's milestone 2 (lr halved at iteration 3); now the option file's."""
    from basicsr.models.lr_scheduler import MultiStepRestartLR

    cwd = tiny_paired_data
    monkeypatch.chdir(cwd)
    exp = _write_experiment(cwd, name='tiny_rnan', network=dict(TINY_NET, num_in_ch=3, num_out_ch=3),
                            iterations=(2, ), lr=1e-4, milestones=(2, ))
    options = _options_file(cwd, train={'scheduler': {'type': 'MultiStepLR', 'milestones': [2], 'gamma': 0.5},
                                        'total_iter': 2})
    with open(options) as f:
        opt = yaml.safe_load(f)
    opt['model_type'] = 'RNANModel'
    opt['logger'].update(print_freq=1, save_checkpoint_freq=100, use_tb_logger=False)
    del opt['datasets']['val'], opt['val']
    with open(options, 'w') as f:
        yaml.safe_dump(opt, f)
    before = _md5s(cwd / 'experiments')

    refused = ['train:total_iter=4', 'train:scheduler:milestones=[1]']  # milestone 1 would rewrite iteration 2
    assert main(['train', '-opt', options, '--auto_resume', '--force_yml', *refused]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ''  # BasicSR's "Disable distributed." is not printed above the one line
    errors = [line for line in captured.err.splitlines() if line.startswith('basicsr: error: ')]
    assert len(errors) == 1 and 'as asked (milestones [2] → [1]): iteration 2 was trained at 1 x' in errors[0]
    assert _md5s(cwd / 'experiments') == before
    assert sorted(os.listdir(cwd)) == ['datasets', 'experiments', 'options.yml']  # no tb_logger, no results

    result = run_basicsr(['train', '-opt', options, '--auto_resume', '--force_yml', 'train:total_iter=4',
                          'train:scheduler:milestones=[3]'], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [name for name in os.listdir(exp) if name.startswith('train_tiny_rnan_') and name.endswith('.log')]
    with open(exp / logs[0]) as f:
        log = f.read()
    resumed = [line for line in log.splitlines() if 'Resuming at iteration' in line]
    assert len(resumed) == 1 and resumed[0].endswith("Resuming at iteration 2 with the option file's train.scheduler "
                                                     "(MultiStepRestartLR), not the training state's: milestones [2] "
                                                     "→ [3]; iteration 3 trains at lr 0.0001.")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler, uninterrupted = MultiStepRestartLR(optimizer, milestones=[3], gamma=0.5), {}
    for iteration in range(1, 5):
        if iteration > 1:
            scheduler.step()
        uninterrupted[iteration] = optimizer.param_groups[0]['lr']
        optimizer.step()
    assert _logged_lrs(log) == {3: uninterrupted[3], 4: uninterrupted[4]} and uninterrupted[4] < uninterrupted[3]


def test_newest_training_state_is_the_highest_iteration(tmp_path):
    """The one lookup behind the interrupted-run message of ``basicsr train`` and the quickstart's resume decision."""
    states = tmp_path / 'training_states'
    assert newest_training_state(str(states)) is None
    states.mkdir()
    assert newest_training_state(str(states)) is None
    for name in ('9.state', '100.state', '20.state', 'latest.state', '.200.state.tmp42', '300.pth'):
        (states / name).write_bytes(b'')
    assert newest_training_state(str(states)) == str(states / '100.state')  # 100 > 20 > 9, not by text
