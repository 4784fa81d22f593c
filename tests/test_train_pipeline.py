"""End to end: `basicsr train` on the CPU with a tiny RNAN, TensorBoard events, checkpoints, then --auto_resume."""
import cv2
import glob
import numpy as np
import pytest
import torch
import yaml
from conftest import TEST_OPTIONS, run_basicsr
from os import path as osp

from rnan_basicsr.archs.rnan_arch import RNAN

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


@pytest.mark.slow
def test_a_network_trained_with_the_key_softmax_is_restored_with_it(tiny_paired_data, capsys):
    """net_g_*.pth carries network_g.nl_softmax: key; inference_rnan.py builds it with or without --nl_softmax key
    (same image) and refuses --nl_softmax query in one line; basicsr test with a file that leaves nl_softmax out uses
    it (same image again), and refuses a file that says query in one line naming both."""
    cwd = tiny_paired_data
    with open(TINY) as f:
        opt = yaml.safe_load(f)
    opt.update(model_type='RNANModel', name='key')
    opt['network_g'].update(num_feat=4, num_group=2, nl_softmax='key')
    opt['train'].update(total_iter=2)
    opt['train']['optim_g']['lr'] = 0.01  # the non-local W (zero at start) moves enough for the softmax to show
    opt['logger']['use_tb_logger'] = False
    test = {key: opt[key] for key in ('model_type', 'scale', 'num_gpu', 'manual_seed')}
    network = {k: v for k, v in opt['network_g'].items() if k != 'nl_softmax'}
    test.update(name='key_test', network_g=network, datasets={'test': dict(opt['datasets']['val'], name='TinyTest')},
                path={'pretrain_network_g': 'experiments/key/models/net_g_2.pth'},
                val={'save_img': True, 'suffix': None, 'metrics': opt['val']['metrics']})
    for name, options in (('train_key.yml', opt), ('test_key.yml', test),
                          ('test_query.yml', dict(test, network_g=dict(network, nl_softmax='query')))):
        with open(cwd / name, 'w') as f:
            yaml.safe_dump(options, f)
    result = run_basicsr(['train', '-opt', 'train_key.yml'], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = str(cwd / 'experiments' / 'key' / 'models' / 'net_g_2.pth')
    assert torch.load(weights, weights_only=True)['network_g']['nl_softmax'] == 'key'

    from rnan_basicsr.tools import inference
    images = str(cwd / 'datasets' / 'tiny' / 'val' / 'lq')
    outputs = {}
    for flag in ([], ['--nl_softmax', 'key']):
        out = str(cwd / f'out{len(flag)}')
        assert inference.main(['--task', 'dn_rgb', '--model_path', weights, '-i', images, '-o', out] + flag) == 0
        assert 'nl_softmax=key (saved in the file)' in capsys.readouterr().out
        outputs[len(flag)] = cv2.imread(osp.join(out, 'img000.png'))
    assert np.array_equal(outputs[0], outputs[2])
    assert inference.main(['--task', 'dn_rgb', '--model_path', weights, '-i', images, '-o', str(cwd / 'q'),
                           '--nl_softmax', 'query']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and '--nl_softmax query contradicts' in err and 'nl_softmax: key' in err, err
    assert not (cwd / 'q').exists()

    result = run_basicsr(['test', '-opt', 'test_key.yml'], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'network_g: img_range: 255.0, nl_softmax: key, as saved with' in result.stderr
    tested = cv2.imread(str(cwd / 'results' / 'key_test' / 'visualization' / 'TinyTest' / 'img000_key_test.png'))
    assert np.array_equal(tested, outputs[0])
    # the query softmax would give another image from the same weights: what the saved setting prevents
    state_dict = torch.load(weights, weights_only=True)['params']
    lq = torch.from_numpy(cv2.imread(osp.join(images, 'img000.png'))[None, ..., ::-1].copy()).permute(0, 3, 1, 2)
    restored = {}
    for softmax in ('query', 'key'):
        net = RNAN(3, 3, num_feat=4, num_group=2, upscale=1, nl_softmax=softmax)
        net.load_state_dict(state_dict)
        with torch.no_grad():
            restored[softmax] = net(lq.float() / 255)
    assert (restored['query'] - restored['key']).abs().max() > 1e-4
    result = run_basicsr(['test', '-opt', 'test_query.yml'], cwd=cwd)
    assert result.returncode == 2 and result.stderr.strip().count('\n') == 0, result.stderr[-3000:]
    assert 'was saved with network_g.nl_softmax: key, but network_g has nl_softmax: query' in result.stderr
