"""End to end: `basicsr train` on the CPU with a tiny RNAN, TensorBoard events, checkpoints, then --auto_resume."""
import glob
import pytest
import torch
from conftest import TEST_OPTIONS, run_basicsr
from os import path as osp

TINY = osp.join(TEST_OPTIONS, 'train_tiny_rnan.yml')


@pytest.mark.slow
def test_train_saves_logs_and_resumes_with_optimizer_and_scheduler(tiny_paired_data):
    cwd = tiny_paired_data
    result = run_basicsr(['train', '-opt', TINY], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    exp = cwd / 'experiments' / 'tiny_rnan'
    assert sorted(p.name for p in (exp / 'training_states').iterdir()) == ['2.state', '4.state']
    assert {'net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth'} <= {p.name for p in (exp / 'models').iterdir()}
    assert glob.glob(str(cwd / 'tb_logger' / 'tiny_rnan' / 'events.out.tfevents.*'))
    assert 'Validation TinyVal' in result.stderr and '# psnr:' in result.stderr

    # continue to iteration 6 from the newest state (iteration 4)
    result = run_basicsr(['train', '-opt', TINY, '--auto_resume', '--force_yml', 'train:total_iter=6'], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Resuming training from epoch: 1, iter: 4.' in result.stderr
    assert 'iter:       5' in result.stderr and 'iter:       4,' not in result.stderr
    state = torch.load(exp / 'training_states' / '6.state', map_location='cpu', weights_only=True)
    assert state['iter'] == 6
    # restored optimizer: Adam has taken 6 steps, not 2; restored scheduler: stepped at iterations 2..6
    steps = {float(s['step']) for s in state['optimizers'][0]['state'].values()}
    assert steps == {6.0}
    assert state['schedulers'][0]['last_epoch'] == 5
    assert state['optimizers'][0]['param_groups'][0]['lr'] == 5e-5  # halved at the milestone (iteration 3)
    # the resumed network continued from the saved weights, not from a fresh initialisation
    assert '[params]' in result.stderr and 'net_g_4.pth' in result.stderr
