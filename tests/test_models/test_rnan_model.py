"""RNANModel in-process: option checks, whole / tiled / self-ensembled testing, validation side effects, EMA, and
loading ``pretrain_network_g`` with clear errors."""
import functools
import logging
import pytest
import re
import torch
from basicsr.models import build_model
from collections import OrderedDict

from rnan_basicsr import test_time
from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.options.model_rules import check_model_options
from rnan_basicsr.test_time import self_ensemble_forward, tile_forward
from rnan_basicsr.utils.errors import InputError

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
        check_model_options({'val': val})


def test_check_options_accepts_valid_and_absent_values():
    for val in (None, {}, {'tile': None, 'self_ensemble': False}, {'tile': {'size': 64}},
                {'tile': {'size': 64, 'overlap': 8}, 'self_ensemble': True, 'tb_images': 0}):
        check_model_options({'val': val})
    check_model_options({})


def test_the_model_validates_nothing_when_built_and_a_bad_tile_still_fails_at_test_time(tmp_path):
    """The pre-flight runs the option rules; the model only builds, and its test-time forward refuses the tile."""
    model = build_model(make_opt(tmp_path, val={'tile': {'size': 8, 'overlap': 9}}))
    model.feed_data({'lq': torch.rand(1, 3, 13, 11)})
    with pytest.raises(InputError, match=r'val.tile.overlap must be an integer in \[0, val.tile.size\)'):
        model.test()


# ------------------------------------------------------------------------------------------------------------------
# testing and validation
# ------------------------------------------------------------------------------------------------------------------
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


def test_loading_refuses_weights_saved_with_another_softmax(tmp_path):
    """A .safetensors file saved with nl_softmax: key is refused by a network_g that builds the query softmax (the
    same weights would give other images), and loads when network_g says key."""
    from rnan_basicsr.weights import save_safetensors
    file = str(tmp_path / 'key.safetensors')
    save_safetensors(_weights(nl_softmax='key'), file, dict(type='RNAN', upscale=2, nl_softmax='key', **TINY))
    with pytest.raises(InputError, match='saved with network_g.nl_softmax: key, but network_g leaves nl_softmax out'):
        build_model(make_opt(tmp_path, path={'pretrain_network_g': file}))
    from rnan_basicsr.command.preflight import _check_pretrained_fit  # basicsr train|test: before writing anything
    for strict in (True, False):
        with pytest.raises(InputError, match='saved with network_g.nl_softmax: key'):
            _check_pretrained_fit(make_opt(tmp_path, path={'pretrain_network_g': file, 'strict_load_g': strict}))
    opt = make_opt(tmp_path, path={'pretrain_network_g': file})
    opt['network_g']['nl_softmax'] = 'key'
    assert _same(build_model(opt).net_g, _weights(nl_softmax='key'))
