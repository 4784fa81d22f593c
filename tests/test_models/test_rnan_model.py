"""RNANModel in-process: option checks, whole / tiled / self-ensembled testing, validation side effects, EMA, and
loading ``pretrain_network_g`` with clear errors."""
import errno
import functools
import logging
import os
import pytest
import re
import torch
from basicsr.models import build_model
from collections import OrderedDict

from rnan_basicsr import test_time
from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.command.model_checks import check_model_options
from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.test_time import self_ensemble_forward, tile_forward
from rnan_basicsr.utils.errors import InputError, RunError

TINY = dict(num_feat=8, num_group=2)


def make_opt(tmp_path, is_train=False, upscale=2, channels=3, val=None, ema_decay=0, path=None):
    opt = {
        'name': 'unit', 'model_type': 'RNANModel', 'num_gpu': 0, 'is_train': is_train, 'dist': False, 'rank': 0,
        'world_size': 1, 'scale': upscale,
        'network_g': dict(type='RNAN', num_in_ch=channels, num_out_ch=channels, upscale=upscale, **TINY),
        'path': {
            'pretrain_network_g': None, 'strict_load_g': True, 'visualization': str(tmp_path / 'vis'), **(path or {})
        },
        'val': dict(save_img=False, metrics={'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}, **(val or {})),
    }
    if is_train:
        opt['train'] = {
            'ema_decay': ema_decay, 'optim_g': {'type': 'Adam', 'lr': 1e-3},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'}
        }
    return opt


class FakeTensorBoard:
    """Records what the model sends to TensorBoard."""

    def __init__(self):
        self.images, self.scalars = [], []

    def add_image(self, tag, img, step, dataformats='CHW'):
        self.images.append((tag, tuple(img.shape), step, float(img.min()), float(img.max())))

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))


class Loader(list):
    """The two things BasicSR's validation loop uses of a DataLoader: iteration and ``dataset.opt['name']``."""

    def __init__(self, batches, name='Toy'):
        super().__init__(batches)
        self.dataset = type('Dataset', (), {'opt': {'name': name}})()


def make_loader(count=4, size=12, scale=2, channels=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return Loader([{
        'lq': torch.rand(1, channels, size, size + 2, generator=generator),
        'gt': torch.rand(1, channels, size * scale, (size + 2) * scale, generator=generator),
        'lq_path': [f'img{i}.png'], 'gt_path': [f'img{i}.png']
    } for i in range(count)])


# ------------------------------------------------------------------------------------------------------------------
# options
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('val,message', [
    ({'tile': 128}, 'val.tile must be ~'),
    ({'tile': {'sise': 64}}, "unknown key 'sise'. Did you mean 'size'"),
    ({'tile': {'size': 0}}, 'val.tile.size must be a positive integer'),
    ({'tile': {'size': 64.0}}, 'val.tile.size must be a positive integer'),
    ({'tile': {'size': 64, 'overlap': 64}}, r'val.tile.overlap must be an integer in \[0, val.tile.size\) = \[0, 64\)'),
    ({'tile': {'size': 64, 'overlap': -1}}, 'val.tile.overlap'),
])
def test_check_options_names_the_key_and_the_fix(val, message):
    with pytest.raises(InputError, match=message):
        check_model_options({'num_gpu': 0, 'val': val})


def test_check_options_accepts_valid_and_absent_values():
    for val in (None, {}, {'tile': None, 'self_ensemble': False}, {'tile': {'size': 64}},
                {'tile': {'size': 64, 'overlap': 8}, 'self_ensemble': True, 'tb_images': 0}):
        check_model_options({'num_gpu': 0, 'val': val})
    check_model_options({'num_gpu': 0})


def test_the_model_validates_nothing_when_built_and_a_bad_tile_still_fails_at_test_time(tmp_path):
    """The pre-flight runs the option rules; the model only builds, and its test-time forward refuses the tile."""
    model = build_model(make_opt(tmp_path, val={'tile': {'size': 8, 'overlap': 9}}))
    model.feed_data({'lq': torch.rand(1, 3, 13, 11)})
    with pytest.raises(InputError, match=r'val.tile.overlap must be an integer in \[0, val.tile.size\)'):
        model.test()


# ------------------------------------------------------------------------------------------------------------------
# testing and validation
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize('val', [{}, {'tile': {'size': 8, 'overlap': 3}}, {'self_ensemble': True},
                                 {'tile': {'size': 8, 'overlap': 3}, 'self_ensemble': True}])
def test_test_runs_whole_tiled_or_self_ensembled(tmp_path, val):
    model = build_model(make_opt(tmp_path, val=val))
    assert isinstance(model, RNANModel)
    net = model.net_g
    lq = torch.rand(1, 3, 13, 11)
    model.feed_data({'lq': lq})
    model.test()
    forward = functools.partial(tile_forward, tile_size=8, tile_overlap=3, scale=2) if 'tile' in val else (
        lambda n, x: n(x))
    with torch.no_grad():
        expected = self_ensemble_forward(net, lq, forward) if val.get('self_ensemble') else forward(net, lq)
    assert model.output.shape == (1, 3, 26, 22)
    torch.testing.assert_close(model.output, expected, rtol=0, atol=1e-6)
    assert not model.output.requires_grad


def test_a_long_whole_image_is_logged_with_a_tile_and_pbar_shows_tiles(tmp_path, monkeypatch, capsys):
    """basicsr test / validation: the expected time of a whole image with the val.tile that bounds it (every image
    larger than the timed attention counts as long here); with val.pbar, a bar over the tiles."""
    monkeypatch.setattr(test_time, 'LONG_SECONDS', -1)
    monkeypatch.setattr(test_time, 'measure_cost', lambda net, lq: test_time.Cost(0.01, 1e-4, 1e-8))  # fast
    model = build_model(make_opt(tmp_path))
    records, logger = [], logging.getLogger('basicsr')  # it does not propagate to caplog's handler
    handler, level = logging.Handler(), logger.level
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # as basicsr test sets it
    try:
        for size in (20, 72):
            model.feed_data({'lq': torch.rand(1, 3, size, size), 'lq_path': [f'sets/img{size}.png']})
            model.test()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    messages = [record.getMessage() for record in records if 'whole' in record.getMessage()]
    assert len(messages) == 1 and re.fullmatch(
        r'img72, 72x72 whole: expected about 1 s on cpu \(measured on this device: .*\); val\.tile: \{size: 64, '
        r'overlap: 16\} would take about 2 s\.', messages[0]), messages
    assert '72x72 whole, about' in capsys.readouterr().err  # the heartbeat
    tiled = build_model(make_opt(tmp_path, val={'tile': {'size': 8, 'overlap': 2}, 'pbar': True}))
    tiled.feed_data({'lq': torch.rand(1, 3, 13, 11), 'lq_path': ['a.png']})
    tiled.test()
    assert '0/4 [00:00<?, ?tile/s]' in capsys.readouterr().err


@pytest.mark.slow
def test_validation_logs_a_few_images_and_restores_train_mode(tmp_path):
    model = build_model(make_opt(tmp_path, is_train=True, val={'tb_images': 2, 'tile': {'size': 8, 'overlap': 2}}))
    assert model.net_g.training
    tb = FakeTensorBoard()
    model.validation(make_loader(count=3), current_iter=7, tb_logger=tb, save_img=False)
    assert model.net_g.training
    # LQ (enlarged) | output | GT, 2-px separators, on the output's grid: (3, 24, 3 * 28 + 4)
    assert [(tag, shape, step) for tag, shape, step, _, _ in tb.images] == [
        ('val_images/Toy/img0', (3, 24, 88), 7), ('val_images/Toy/img1', (3, 24, 88), 7)]
    assert all(0 <= low and high <= 1 for _, _, _, low, high in tb.images)
    assert [tag for tag, _, _ in tb.scalars] == ['metrics/Toy/psnr']

    # no TensorBoard (basicsr test), or tb_images: 0 -> no images; a grey model logs 1-channel strips
    model.validation(make_loader(count=3), current_iter=8, tb_logger=None)
    grey = build_model(make_opt(tmp_path, is_train=True, upscale=1, channels=1, val={'tb_images': 1}))
    tb = FakeTensorBoard()
    grey.validation(make_loader(count=2, scale=1, channels=1), current_iter=1, tb_logger=tb)
    assert [shape for _, shape, _, _, _ in tb.images] == [(1, 12, 3 * 14 + 4)]
    grey.tb_images = 0
    tb = FakeTensorBoard()
    grey.validation(make_loader(count=2, scale=1, channels=1), current_iter=2, tb_logger=tb)
    assert tb.images == [] and len(tb.scalars) == 1


def test_validation_keeps_eval_mode_when_testing(tmp_path):
    model = build_model(make_opt(tmp_path))
    model.net_g.eval()
    model.validation(make_loader(count=1), current_iter='unit', tb_logger=None)
    assert not model.net_g.training


def test_ema_network_is_used_for_testing(tmp_path):
    model = build_model(make_opt(tmp_path, is_train=True, ema_decay=0.9))
    with torch.no_grad():
        for param in model.net_g.parameters():
            param.add_(0.05)
    lq = torch.rand(1, 3, 10, 10)
    model.feed_data({'lq': lq})
    model.test()
    with torch.no_grad():
        torch.testing.assert_close(model.output, model.net_g_ema(lq), rtol=0, atol=0)
        assert (model.output - model.net_g(lq)).abs().max() > 1e-3
    model.validation(make_loader(count=1, size=10), current_iter=1, tb_logger=None)
    assert model.net_g.training and not model.net_g_ema.training


# ------------------------------------------------------------------------------------------------------------------
# loading pretrain_network_g
# ------------------------------------------------------------------------------------------------------------------
def _weights(upscale=2, channels=3, seed=0, **kwargs):
    torch.manual_seed(seed)
    return RNAN(channels, channels, upscale=upscale, **dict(TINY, **kwargs)).state_dict()


def _load(tmp_path, checkpoint, is_train=False, upscale=2, ema_decay=0, **path):
    file = tmp_path / 'weights.pth'
    torch.save(checkpoint, file)
    return build_model(make_opt(tmp_path, is_train=is_train, upscale=upscale, ema_decay=ema_decay,
                                path=dict(pretrain_network_g=str(file), **path)))


def _same(net, state_dict):
    return all(torch.equal(v, state_dict[k]) for k, v in net.state_dict().items())


def test_loading_picks_ema_weights_for_testing_unless_told_otherwise(tmp_path):
    plain, ema = _weights(seed=0), _weights(seed=1)
    assert _same(_load(tmp_path, {'params': plain, 'params_ema': ema}).net_g, ema)
    assert _same(_load(tmp_path, {'params': plain, 'params_ema': ema}, param_key_g='params').net_g, plain)
    assert _same(_load(tmp_path, {'params': plain}).net_g, plain)
    assert _same(_load(tmp_path, plain, param_key_g=None).net_g, plain)  # bare state dict
    module_prefixed = OrderedDict((f'module.{k}', v) for k, v in plain.items())
    assert _same(_load(tmp_path, {'params': module_prefixed}).net_g, plain)
    # training: net_g from params, net_g_ema from params_ema (BasicSR's behaviour)
    model = _load(tmp_path, {'params': plain, 'params_ema': ema}, is_train=True, ema_decay=0.999)
    assert _same(model.net_g, plain) and _same(model.net_g_ema, ema)


@pytest.mark.parametrize('checkpoint,extra,message', [
    ({'epoch': 1, 'iter': 4, 'optimizers': [], 'schedulers': []}, {},
     r'is a BasicSR training state \(iteration 4\), not network weights.*net_g_4.pth'),
    ({'params_ema': _weights()}, {'param_key_g': 'params'},
     "has no 'params' entry; it has keys params_ema. Set path.param_key_g: params_ema"),
    (_weights(), {}, "has no 'params' entry; it has a bare state dict.*param_key_g: ~"),
    ({'params': _weights(upscale=1, channels=1)}, {},
     'holds an RNAN with num_in_ch=1, num_out_ch=1, num_feat=8, num_group=2, upscale=1, but network_g has '
     'num_in_ch=3, num_out_ch=3, num_feat=8, num_group=2, upscale=2 \\(they differ in num_in_ch, num_out_ch, '
     'upscale\\)'),
    ({'params': _weights(upscale=4)}, {}, r'upscale=4, but network_g has .*upscale=2 \(they differ in upscale\)'),
    ({'params': _weights(num_group=3)}, {}, r'they differ in num_group'),
    ({'params': {'head.0.weight': torch.zeros(8, 3, 3, 3)}}, {}, "authors' RNAN checkpoint"),
    ({'params': {'conv_first.weight': torch.zeros(8, 3, 3, 3)}}, {}, r'does not fit network_g \(RNAN\): missing: '),
    ({'head.0.weight': torch.zeros(8, 3, 3, 3)}, {}, "authors' RNAN checkpoint.*convert_official_rnan.py"),
    ({'params': [1, 2]}, {}, "holds no state dict of tensors under 'params'"),
])
def test_loading_explains_what_is_wrong_with_the_file(tmp_path, checkpoint, extra, message):
    with pytest.raises(InputError, match=message):
        _load(tmp_path, checkpoint, **extra)


def test_loading_refuses_missing_corrupt_and_unsafe_files(tmp_path):
    opt = make_opt(tmp_path, path={'pretrain_network_g': str(tmp_path / 'none.pth')})
    with pytest.raises(InputError, match='path.pretrain_network_g .*none.pth.* does not exist'):
        build_model(opt)
    (tmp_path / 'bad.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(InputError, match="cannot load path.pretrain_network_g .*bad.pth.*: it is a text file, not a "
                       "checkpoint \\(it starts with 'not a checkpoint'\\)"):
        build_model(make_opt(tmp_path, path={'pretrain_network_g': str(tmp_path / 'bad.pth')}))
    torch.save({'params': _weights(), 'extra': object()}, tmp_path / 'unsafe.pth')
    with pytest.raises(InputError, match='weights_only=True'):
        build_model(make_opt(tmp_path, path={'pretrain_network_g': str(tmp_path / 'unsafe.pth')}))


def test_non_strict_loading_keeps_basicsr_behaviour(tmp_path):
    """strict_load_g: false loads what fits (e.g. fine-tuning x2 weights into x4) without raising."""
    x4 = _weights(upscale=4)
    model = _load(tmp_path, {'params': _weights(upscale=2)}, upscale=4, strict_load_g=False)
    assert set(model.net_g.state_dict()) == set(x4)


def test_weights_saved_with_the_key_softmax_build_it_unless_network_g_says_otherwise(tmp_path):
    """A file saved with nl_softmax: key builds the key softmax when network_g leaves it out (a .safetensors file and
    a checkpoint training wrote alike), and is refused in one line naming both when network_g says query (the same
    weights would give other images), by the model and by the pre-flight of basicsr train|test."""
    from rnan_basicsr.command.preflight import _check_pretrained_fit
    from rnan_basicsr.weights import save_safetensors
    weights = _weights(nl_softmax='key')
    safetensors = str(tmp_path / 'key.safetensors')
    save_safetensors(weights, safetensors, dict(type='RNAN', upscale=2, nl_softmax='key', **TINY))
    trained = build_model(make_opt(tmp_path, is_train=True, path=_checkpoint_folders(tmp_path)))
    trained.opt['network_g']['nl_softmax'] = 'key'
    trained.get_bare_model(trained.net_g).load_state_dict(weights)
    trained.save_network(trained.net_g, 'net_g', 2)
    pth = str(tmp_path / 'models' / 'net_g_2.pth')
    for file in (safetensors, pth):
        model = build_model(make_opt(tmp_path, path={'pretrain_network_g': file}))
        assert model.opt['network_g']['nl_softmax'] == 'key' and _same(model.net_g, weights)
        assert model.get_bare_model(model.net_g).group_nl_low.block.mask.non_local.softmax == 'key'
        opt = make_opt(tmp_path, path={'pretrain_network_g': file})
        opt['network_g']['nl_softmax'] = 'query'
        message = r'saved with network_g.nl_softmax: key, but network_g has nl_softmax: query'
        with pytest.raises(InputError, match=message):
            build_model(opt)
        for strict in (True, False):
            opt['path']['strict_load_g'] = strict
            with pytest.raises(InputError, match=message):
                _check_pretrained_fit(opt)


def test_a_file_without_settings_keeps_the_defaults_and_says_so_once(tmp_path, caplog):
    import logging
    with caplog.at_level(logging.INFO, logger='basicsr'):
        model = _load(tmp_path, {'params': _weights()})
    assert model.get_bare_model(model.net_g).group_nl_low.block.mask.non_local.softmax == 'query'
    said = [r.getMessage() for r in caplog.records if 'saves no network settings' in r.getMessage()]
    assert len(said) == 1 and 'nl_softmax: query (assumed;' in said[0], said


# ------------------------------------------------------------------------------------------------------------------
# checkpoints: atomic, in a safe order, with the network settings; a write that fails stops training
# ------------------------------------------------------------------------------------------------------------------
def _checkpoint_folders(tmp_path):
    paths = {'models': str(tmp_path / 'models'), 'training_states': str(tmp_path / 'training_states')}
    for folder in paths.values():
        os.makedirs(folder, exist_ok=True)
    return paths


def test_checkpoints_carry_the_network_settings_in_a_form_basicsr_reads(tmp_path):
    from basicsr.models.base_model import BaseModel
    model = build_model(make_opt(tmp_path, is_train=True, ema_decay=0.5, path=_checkpoint_folders(tmp_path)))
    model.save(epoch=0, current_iter=2)
    saved = torch.load(tmp_path / 'models' / 'net_g_2.pth', weights_only=True)
    settings = {'type': 'RNAN', 'nl_softmax': 'query', 'img_range': 255.0, 'rgb_mean': (0.4488, 0.4371, 0.404)}
    assert set(saved) == {'params', 'params_ema', 'network_g'} and saved['network_g'] == settings
    assert saved['params_ema']._metadata['']['network_g'] == settings  # what spandrel sees
    assert set(saved['params']) == set(model.net_g.state_dict())
    BaseModel.load_network(model, model.net_g_ema, str(tmp_path / 'models' / 'net_g_2.pth'), True, 'params_ema')
    state = torch.load(tmp_path / 'training_states' / '2.state', weights_only=True)
    assert state['iter'] == 2 and state['skipped_steps'] == 0 and len(state['optimizers']) == 1


class _Unpicklable:

    def __reduce__(self):
        raise RuntimeError('disk full')  # fails in the middle of torch.save, after part of the file is written


def test_save_network_then_state_never_pairs_a_state_with_another_network(tmp_path, monkeypatch):
    model = build_model(make_opt(tmp_path, is_train=True, path=_checkpoint_folders(tmp_path)))
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    # what a killed run may leave at iteration 6: a network without state, or an old pair from a run resumed earlier
    (models / 'net_g_6.pth').write_bytes(b'old network')
    (states / '6.state').write_bytes(b'old state')
    model.save_network(model.net_g, 'net_g', 6)
    assert not (states / '6.state').exists()  # removed before the new network was written
    assert set(torch.load(models / 'net_g_6.pth', weights_only=True)['params']) == set(model.net_g.state_dict())
    model.save_training_state(epoch=1, current_iter=6)
    assert torch.load(states / '6.state', weights_only=True)['iter'] == 6
    # a state is not written when its network file is missing
    model.save_training_state(epoch=1, current_iter=8)
    assert not (states / '8.state').exists()
    # net_g_latest.pth (current_iter -1) has no state: nothing is removed
    model.save_network(model.net_g, 'net_g', -1)
    assert sorted(os.listdir(models)) == ['net_g_6.pth', 'net_g_latest.pth']
    assert sorted(os.listdir(states)) == ['6.state']
    # a write that fails half-way leaves the old file complete and no temporary file
    monkeypatch.setattr(model, 'skipped_steps', _Unpicklable())
    with pytest.raises(RunError, match=r"cannot write '.*6\.state': disk full\."):
        model.save_training_state(epoch=1, current_iter=6)
    assert torch.load(states / '6.state', weights_only=True)['iter'] == 6 and os.listdir(states) == ['6.state']


def test_a_checkpoint_that_cannot_be_written_stops_training(tmp_path, monkeypatch):
    import rnan_basicsr.utils.atomic as atomic
    model = build_model(make_opt(tmp_path, is_train=True, path=_checkpoint_folders(tmp_path)))
    model.save(epoch=1, current_iter=2)

    def no_space(obj, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, 'atomic_torch_save', no_space)
    with pytest.raises(RunError, match=r"cannot write '.*net_g_4\.pth': No space left on device \(errno 28\)"):
        model.save(epoch=1, current_iter=4)
    assert sorted(os.listdir(tmp_path / 'models')) == ['net_g_2.pth']  # the previous checkpoint intact
    assert sorted(os.listdir(tmp_path / 'training_states')) == ['2.state']
