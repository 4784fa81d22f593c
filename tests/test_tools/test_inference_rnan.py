"""rnan_basicsr/tools/inference.py (scripts/inference_rnan.py): the user's own images in (no ground truth), PNGs out
in the input's layout; checkpoints and every input checked against the task first; one-line errors with status 2."""
import cv2
import numpy as np
import pytest
import re
import subprocess
import sys
import torch
from basicsr.utils.color_util import bgr2ycbcr
from conftest import ROOT, official_shapes, synthetic_image, write_images
from os import path as osp

from rnan_basicsr import test_time
from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.tools import inference as inference_rnan

SCRIPT = osp.join(ROOT, 'scripts', 'inference_rnan.py')


def _checkpoint(tmp_path, name, channels=3, upscale=1, wrap='params', seed=0):
    torch.manual_seed(seed)
    net = RNAN(channels, channels, num_feat=8, num_group=2, upscale=upscale)
    for module in net.modules():  # non-zero non-local W, so that every part of the network acts
        if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1) and module.in_channels == 4:
            torch.nn.init.normal_(module.weight, std=0.1)
    path = tmp_path / f'{name}.pth'
    torch.save({wrap: net.state_dict()} if wrap else net.state_dict(), path)
    return str(path), net.eval()


def _run_net(net, img):
    """Reference: (H, W, C) float32 RGB -> network output, without the script."""
    with torch.no_grad():
        return net(torch.from_numpy(img.transpose(2, 0, 1).copy())[None])[0].numpy().transpose(1, 2, 0)


def _quantise(img):
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def _error(capsys, argv):
    assert inference_rnan.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('inference_rnan.py: error: '), err
    return lines[0]


@pytest.mark.slow
def test_colour_denoising_of_a_folder_from_the_command_line(tmp_path):
    """The script as users run it: a folder (colour, grey, a non-image file) in, PNGs out, exact network output."""
    model, net = _checkpoint(tmp_path, 'dn_rgb')
    inputs = tmp_path / 'photos'
    write_images(inputs, 2, 20, 17, channels=3)
    write_images(inputs, 1, 15, 16, channels=1, prefix='grey')
    (inputs / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, SCRIPT, '--task', 'dn_rgb', '--model_path', model, '--input',
                             str(inputs), '--output', str(out), '--device', 'cpu'], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert ('colour image denoising (AWGN) with RNAN(num_in_ch=3, num_out_ch=3, num_feat=8, num_group=2, upscale=1, '
            'nl_softmax=query (assumed: the file saves no network settings; --nl_softmax key for a model trained with '
            "the paper's formula)) on cpu") in result.stdout
    assert '3/3' in result.stderr  # tqdm's progress bar
    assert sorted(p.name for p in out.iterdir()) == ['grey000.png', 'img000.png', 'img001.png']
    bgr = cv2.imread(str(inputs / 'img001.png'))
    expected = _quantise(_run_net(net, bgr[..., ::-1].astype(np.float32) / 255))[..., ::-1]
    assert np.array_equal(cv2.imread(str(out / 'img001.png')), expected)
    assert cv2.imread(str(out / 'grey000.png'), cv2.IMREAD_UNCHANGED).shape == (15, 16)  # grey stays grey
    assert 'note: 1 image(s) grey, restored as 3 equal channels whose outputs are averaged' in result.stdout
    assert re.search(rf'wrote 3 image\(s\) to {re.escape(str(out))} in \d+ s\.\n$', result.stdout)  # the last line


def test_car_restores_y_and_keeps_the_chroma_of_a_colour_image(tmp_path):
    model, net = _checkpoint(tmp_path, 'car', channels=1)
    img = synthetic_image(24, 21, 3, seed=3)
    jpeg = cv2.imdecode(cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], cv2.IMREAD_COLOR)
    cv2.imwrite(str(tmp_path / 'photo.png'), jpeg)
    cv2.imwrite(str(tmp_path / 'grey.png'), jpeg[..., 1])
    out = tmp_path / 'out'
    for name in ('photo.png', 'grey.png'):
        assert inference_rnan.main(['--task', 'car', '--model_path', model, '-i', str(tmp_path / name), '-o',
                                    str(out), '--suffix', 'RNAN']) == 0
    restored = cv2.imread(str(out / 'photo_RNAN.png'))
    ycbcr_in, ycbcr_out = (bgr2ycbcr(x.astype(np.float32) / 255) for x in (jpeg, restored))
    y_expected = _run_net(net, ycbcr_in[..., :1])[..., 0]
    assert np.abs(ycbcr_out[..., 1:] - ycbcr_in[..., 1:]).max() < 1.5 / 255  # Cb, Cr kept (up to 8-bit rounding)
    assert np.abs(ycbcr_out[..., 0] - y_expected).max() < 1.5 / 255  # Y from the network
    assert np.abs(ycbcr_out[..., 0] - ycbcr_in[..., 0]).max() > 3 / 255  # ... which did change it
    grey_out = cv2.imread(str(out / 'grey_RNAN.png'), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(grey_out, _quantise(_run_net(net, jpeg[..., 1:2].astype(np.float32) / 255))[..., 0])


def test_sr_whole_tiled_and_self_ensembled(tmp_path, capsys):
    model, net = _checkpoint(tmp_path, 'sr', upscale=2)
    write_images(tmp_path / 'lr', 1, 14, 11)
    outputs = {}
    for name, extra in (('whole', []), ('tiled', ['--tile', '8', '--tile_overlap', '2']),
                        ('ensemble', ['--self_ensemble', '--scale', '2'])):
        assert inference_rnan.main(['--task', 'sr', '--model_path', model, '-i', str(tmp_path / 'lr'), '-o',
                                    str(tmp_path / name), *extra]) == 0
        outputs[name] = cv2.imread(str(tmp_path / name / 'img000.png')).astype(int)
    assert outputs['whole'].shape == (28, 22, 3)
    assert 0 < np.abs(outputs['tiled'] - outputs['whole']).mean() < 3
    assert 0 < np.abs(outputs['ensemble'] - outputs['whole']).mean() < 10
    assert 'tiles of 8 px (overlap 2)' in capsys.readouterr().out


def test_grey_denoising_converts_colour_inputs_to_grey(tmp_path):
    model, _ = _checkpoint(tmp_path, 'dn_gray', channels=1)
    write_images(tmp_path / 'in', 1, 12, 12)
    assert inference_rnan.main(['--task', 'dn_gray', '--model_path', model, '-i', str(tmp_path / 'in'), '-o',
                                str(tmp_path / 'out')]) == 0
    assert cv2.imread(str(tmp_path / 'out' / 'img000.png'), cv2.IMREAD_UNCHANGED).shape == (12, 12)


def test_demosaic_from_a_raw_mosaic_a_zero_filled_mosaic_or_a_full_rgb_image(tmp_path, capsys):
    model, _ = _checkpoint(tmp_path, 'demosaic')
    bgr = synthetic_image(16, 18, 3, seed=5)
    # GRBG (row 0: G R, row 1: B G), written out here in BGR channel order
    mask = np.zeros((16, 18, 3), np.uint8)
    mask[0::2, 0::2, 1] = mask[0::2, 1::2, 2] = mask[1::2, 0::2, 0] = mask[1::2, 1::2, 1] = 1
    mosaic = bgr * mask
    cv2.imwrite(str(tmp_path / 'mosaic3.png'), mosaic)
    cv2.imwrite(str(tmp_path / 'raw.png'), mosaic.sum(axis=2).astype(np.uint8))  # one CFA sample per pixel
    cv2.imwrite(str(tmp_path / 'photo.png'), bgr)
    base = ['--task', 'demosaic', '--model_path', model, '-o', str(tmp_path / 'out')]
    for name in ('mosaic3', 'raw'):
        assert inference_rnan.main(base + ['-i', str(tmp_path / f'{name}.png')]) == 0
    assert inference_rnan.main(base + ['-i', str(tmp_path / 'photo.png'), '--make_mosaic']) == 0
    outputs = [cv2.imread(str(tmp_path / 'out' / f'{name}.png')) for name in ('mosaic3', 'raw', 'photo')]
    assert outputs[0].shape == (16, 18, 3)
    assert np.array_equal(outputs[0], outputs[1]) and np.array_equal(outputs[0], outputs[2])
    capsys.readouterr()
    line = _error(capsys, base + ['-i', str(tmp_path / 'photo.png')])
    assert 'is not a GRBG mosaic' in line and '--make_mosaic' in line


def test_the_authors_checkpoint_is_converted_on_the_fly(tmp_path, capsys):
    state_dict = {key: torch.randn(shape) for key, shape in official_shapes('keys_rest_c1').items()}
    torch.save(state_dict, tmp_path / 'RNAN_CAR_Y_F64G10P48L2N10.pt')
    cv2.imwrite(str(tmp_path / 'in.png'), synthetic_image(9, 10, 1)[..., 0])
    assert inference_rnan.main(['--task', 'car', '--model_path', str(tmp_path / 'RNAN_CAR_Y_F64G10P48L2N10.pt'), '-i',
                                str(tmp_path / 'in.png'), '-o', str(tmp_path / 'out')]) == 0
    assert 'num_feat=64, num_group=10' in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / 'out' / 'in.png'), cv2.IMREAD_UNCHANGED).shape == (9, 10)


def test_every_error_is_one_line_with_status_2(tmp_path, capsys):
    rgb_model, _ = _checkpoint(tmp_path, 'rgb')
    grey_model, _ = _checkpoint(tmp_path, 'grey', channels=1)
    sr_model, _ = _checkpoint(tmp_path, 'sr', upscale=2, wrap='params_ema')
    write_images(tmp_path / 'in', 1, 12, 12)
    image = str(tmp_path / 'in' / 'img000.png')
    torch.save({'epoch': 3, 'iter': 1000, 'optimizers': [], 'schedulers': []}, tmp_path / '1000.state')
    torch.save({'params': {'conv1.weight': torch.zeros(3)}}, tmp_path / 'other.pth')
    esrgan = {'conv_first.weight': torch.zeros(8, 3, 3, 3), 'body.0.rdb1.conv1.weight': torch.zeros(4, 8, 3, 3),
              'conv_last.weight': torch.zeros(3, 8, 3, 3)}  # RRDBNet's names: some are RNAN's too
    torch.save({'params_ema': esrgan}, tmp_path / 'esrgan.pth')
    (tmp_path / 'broken').mkdir()
    (tmp_path / 'broken' / 'a.png').write_bytes(b'garbage')
    (tmp_path / 'truncated').mkdir()
    (tmp_path / 'truncated' / 'b.png').write_bytes(cv2.imencode('.png', synthetic_image(12, 12))[1].tobytes()[:60])
    (tmp_path / 'empty').mkdir()

    def call(task, model, *extra, source=image):
        return _error(capsys, ['--task', task, '--model_path', model, '-i', source, '-o', str(tmp_path / 'o'),
                               *extra])

    assert 'is a BasicSR training state (iteration 1000), not network weights' in call('dn_rgb', str(
        tmp_path / '1000.state'))
    assert ('is an RNAN with num_in_ch=1, num_out_ch=1, num_feat=8, num_group=2, upscale=1, but --task dn_rgb '
            '(colour image denoising (AWGN)) needs 3 input and output channel(s). It fits --task car / '
            'dn_gray.') in call('dn_rgb', grey_model)
    assert 'needs 1 input and output channel(s). It fits --task demosaic / dn_rgb.' in call('car', rgb_model)
    assert 'is a x2 super-resolution model; use --task sr' in call('dn_rgb', sr_model)
    assert 'is a restoration model (upscale=1), not super-resolution' in call('sr', rgb_model)
    assert '--scale 3 does not match --model_path' in call('sr', sr_model, '--scale', '3')
    assert '--scale applies to --task sr only' in call('dn_rgb', rgb_model, '--scale', '2')
    assert 'does not hold RNAN weights' in call('dn_rgb', str(tmp_path / 'other.pth'))
    assert ('does not hold RNAN weights: it has no group_nl_low.conv.weight / group_nl_high.conv.weight (an RNAN has '
            'conv_first.weight, conv_last.weight, group_nl_low.conv.weight, group_nl_high.conv.weight); its tensors '
            'are conv_first.weight, body.0.rdb1.conv1.weight, conv_last.weight.') in call('dn_rgb', str(
                tmp_path / 'esrgan.pth'))
    assert 'does not exist or is not a file' in call('dn_rgb', str(tmp_path / 'none.pth'))
    assert "cannot read image" in call('dn_rgb', rgb_model, source=str(tmp_path / 'broken'))
    assert "OpenCV cannot decode it" in call('dn_rgb', rgb_model, source=str(tmp_path / 'truncated'))
    assert 'has no image files' in call('dn_rgb', rgb_model, source=str(tmp_path / 'empty'))
    assert '--input ' in call('dn_rgb', rgb_model, source=str(tmp_path / 'nowhere'))
    assert '--tile_overlap must be in [0, --tile) = [0, 8)' in call('dn_rgb', rgb_model, '--tile', '8',
                                                                    '--tile_overlap', '8')
    if not torch.cuda.is_available():
        assert 'CUDA is not available' in call('dn_rgb', rgb_model, '--device', 'cuda')
    in_place = ['--task', 'dn_rgb', '--model_path', rgb_model, '-i', str(tmp_path / 'in'), '-o', str(tmp_path / 'in')]
    assert 'would overwrite an input image' in _error(capsys, in_place)
    assert not (tmp_path / 'o').exists()  # nothing was written by any failed run


def test_every_input_is_checked_before_any_output_is_written(tmp_path, capsys):
    """Demosaicing a folder of a raw mosaic (fine) and a full RGB photo (not a mosaic): nothing is written."""
    model, _ = _checkpoint(tmp_path, 'demosaic')
    folder = tmp_path / 'in'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a_raw.png'), synthetic_image(12, 12, 1)[..., 0])
    cv2.imwrite(str(folder / 'b_photo.png'), synthetic_image(12, 12, 3))
    line = _error(capsys, ['--task', 'demosaic', '--model_path', model, '-i', str(folder), '-o', str(tmp_path / 'o')])
    assert 'b_photo.png' in line and 'is not a GRBG mosaic' in line
    assert not (tmp_path / 'o').exists()


@pytest.mark.slow
@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
@pytest.mark.parametrize('task', ['dn_rgb', 'sr'])
def test_alpha_is_carried_over_and_the_bit_depth_kept(tmp_path, task, dtype):
    upscale = 2 if task == 'sr' else 1
    model, net = _checkpoint(tmp_path, task, upscale=upscale)
    peak = np.iinfo(dtype).max
    bgr = (synthetic_image(10, 13, 3, seed=5).astype(np.float64) * peak / 255).round().astype(dtype)
    alpha = np.tile(np.linspace(0, peak, 13).round().astype(dtype), (10, 1))
    cv2.imwrite(str(tmp_path / 'rgba.png'), np.dstack([bgr, alpha]))
    cv2.imwrite(str(tmp_path / 'rgb.png'), bgr)
    for name in ('rgba', 'rgb'):
        assert inference_rnan.main(['--task', task, '--model_path', model, '-i', str(tmp_path / f'{name}.png'), '-o',
                                    str(tmp_path / 'out')]) == 0
    with_alpha = cv2.imread(str(tmp_path / 'out' / 'rgba.png'), cv2.IMREAD_UNCHANGED)
    without = cv2.imread(str(tmp_path / 'out' / 'rgb.png'), cv2.IMREAD_UNCHANGED)
    assert with_alpha.dtype == without.dtype == dtype
    assert with_alpha.shape == (10 * upscale, 13 * upscale, 4)
    assert np.array_equal(with_alpha[..., :3], without)  # the colour is restored as without alpha
    if upscale == 1:
        assert np.array_equal(with_alpha[..., 3], alpha)
    else:  # Matlab's bicubic, as the SR inputs are made
        from basicsr.utils.matlab_functions import imresize
        expected = np.round(np.clip(imresize(alpha.astype(np.float32) / peak, 2), 0, 1) * peak).astype(dtype)
        assert np.array_equal(with_alpha[..., 3], expected)


@pytest.mark.parametrize('task', ['dn_rgb', 'sr'])
def test_a_grey_image_under_a_colour_task_comes_out_grey(tmp_path, task, capsys):
    model, _ = _checkpoint(tmp_path, task, upscale=2 if task == 'sr' else 1)
    grey = synthetic_image(11, 12, 1, seed=2)[..., 0]
    cv2.imwrite(str(tmp_path / 'one.png'), grey)
    cv2.imwrite(str(tmp_path / 'three.png'), np.repeat(grey[..., None], 3, axis=2))
    for name in ('one', 'three'):
        assert inference_rnan.main(['--task', task, '--model_path', model, '-i', str(tmp_path / f'{name}.png'), '-o',
                                    str(tmp_path / 'out')]) == 0
        assert 'grey, restored as 3 equal channels whose outputs are averaged' in capsys.readouterr().out
    one = cv2.imread(str(tmp_path / 'out' / 'one.png'), cv2.IMREAD_UNCHANGED)
    three = cv2.imread(str(tmp_path / 'out' / 'three.png'), cv2.IMREAD_UNCHANGED)
    assert one.ndim == 2 and three.ndim == 3  # the input's layout
    assert all(np.array_equal(three[..., c], one) for c in range(3))


def test_output_naming_an_existing_file_is_one_clear_line(tmp_path, capsys):
    model, _ = _checkpoint(tmp_path, 'rgb')
    write_images(tmp_path, 1, 8, 8)
    image = str(tmp_path / 'img000.png')
    (tmp_path / 'rgb.png').write_bytes(b'')
    line = _error(capsys, ['--task', 'dn_rgb', '--model_path', model, '-i', image, '-o', str(tmp_path / 'rgb.png')])
    assert "is an existing file, but --output names the folder" in line
    line = _error(capsys, ['--task', 'dn_rgb', '--model_path', model, '-i', image, '-o',
                           str(tmp_path / 'rgb.png' / 'sub')])
    assert 'is a file, not a folder' in line


def test_precision_bf16_is_close_to_float32_and_the_device_is_checked_first(tmp_path, capsys, monkeypatch):
    from rnan_basicsr import precision

    model, _ = _checkpoint(tmp_path, 'dn_rgb')
    write_images(tmp_path / 'in', 1, 16, 16)
    outputs = {}
    for name in ('fp32', 'bf16'):
        argv = ['--task', 'dn_rgb', '--model_path', model, '-i', str(tmp_path / 'in'), '-o', str(tmp_path / name),
                '--device', 'cpu', '--precision', name]
        assert inference_rnan.main(argv) == 0
        outputs[name] = cv2.imread(str(tmp_path / name / 'img000.png')).astype(np.float64)
    assert 'bfloat16 autocast, TF32: not used on cpu' in capsys.readouterr().out
    assert np.abs(outputs['bf16'] - outputs['fp32']).max() <= 4  # 8-bit levels

    def call(*extra):
        return _error(capsys, ['--task', 'dn_rgb', '--model_path', model, '-i', str(tmp_path / 'in'), '-o',
                               str(tmp_path / 'o'), *extra])

    monkeypatch.setattr(precision, '_autocast_runs', lambda *args: 'no float16 here')
    assert "--precision fp16: cpu cannot run float16 autocast (no float16 here). Use fp32" in call(
        '--device', 'cpu', '--precision', 'fp16')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert "--device 'cuda:7': this machine has 2 CUDA GPU(s), numbered 0..1" in call('--device', 'cuda:7')
    assert not (tmp_path / 'o').exists()


def test_save_safetensors_writes_a_self_describing_copy_that_restores_the_same(tmp_path, capsys):
    from rnan_basicsr.weights import load_checkpoint, load_rnan
    model_path, net = _checkpoint(tmp_path, 'sr', upscale=2)
    write_images(tmp_path / 'in', 1, 12, 10)
    saved = str(tmp_path / 'sr.safetensors')
    argv = ['--task', 'sr', '--model_path', model_path, '-i', str(tmp_path / 'in')]
    assert inference_rnan.main(argv + ['-o', str(tmp_path / 'a'), '--save_safetensors', saved]) == 0
    out = capsys.readouterr().out
    assert f'wrote {saved} (RNAN(num_in_ch=3, num_out_ch=3, num_feat=8, num_group=2, upscale=2)' in out
    assert load_checkpoint(saved)['network_g']['upscale'] == 2
    loaded, config = load_rnan(saved, task='sr')
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))
    assert inference_rnan.main(['--task', 'sr', '--model_path', saved, '-i', str(tmp_path / 'in'), '-o',
                                str(tmp_path / 'b')]) == 0
    first, second = (cv2.imread(str(tmp_path / folder / 'img000.png')) for folder in ('a', 'b'))
    assert np.array_equal(first, second)
    assert 'exists; remove it' in _error(capsys, argv + ['-o', str(tmp_path / 'c'), '--save_safetensors', saved])
    assert 'must end in .safetensors' in _error(capsys, argv + ['--save_safetensors', str(tmp_path / 'x.pth')])


def test_the_softmax_saved_in_a_file_is_used_and_a_contradicting_flag_refused(tmp_path, capsys):
    """A .safetensors file saved with nl_softmax: key restores with the key softmax without --nl_softmax; a flag
    that says otherwise is one line; a file without settings says which softmax it assumes."""
    from rnan_basicsr.weights import save_safetensors
    model, query_net = _checkpoint(tmp_path, 'dn_rgb')  # non-zero W: the two softmaxes give other images
    key_net = RNAN(3, 3, num_feat=8, num_group=2, nl_softmax='key').eval()
    key_net.load_state_dict(query_net.state_dict())
    saved = str(tmp_path / 'key.safetensors')
    save_safetensors(key_net.state_dict(), saved, dict(type='RNAN', num_in_ch=3, num_out_ch=3, num_feat=8,
                                                       num_group=2, upscale=1, nl_softmax='key'))
    write_images(tmp_path / 'in', 1, 16, 16)
    img = cv2.imread(str(tmp_path / 'in' / 'img000.png'))[..., ::-1].astype(np.float32) / 255
    with_key, with_query = (_quantise(_run_net(net, img))[..., ::-1] for net in (key_net, query_net))
    assert not np.array_equal(with_key, with_query)

    argv = ['--task', 'dn_rgb', '-i', str(tmp_path / 'in')]
    assert inference_rnan.main(argv + ['--model_path', saved, '-o', str(tmp_path / 'a')]) == 0
    assert 'nl_softmax=key (saved in the file)' in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(tmp_path / 'a' / 'img000.png')), with_key)
    assert inference_rnan.main(argv + ['--model_path', saved, '-o', str(tmp_path / 'b'), '--nl_softmax', 'key']) == 0
    capsys.readouterr()
    error = _error(capsys, argv + ['--model_path', saved, '-o', str(tmp_path / 'c'), '--nl_softmax', 'query'])
    assert "--nl_softmax query contradicts --model_path" in error and 'saved network_g has nl_softmax: key' in error
    assert not (tmp_path / 'c').exists()
    # a .pth without settings: the flag decides, and the default is said to be assumed
    assert inference_rnan.main(argv + ['--model_path', model, '-o', str(tmp_path / 'd'), '--nl_softmax', 'key']) == 0
    assert 'nl_softmax=key (as --nl_softmax asks)' in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(tmp_path / 'd' / 'img000.png')), with_key)
    assert inference_rnan.main(argv + ['--model_path', model, '-o', str(tmp_path / 'e')]) == 0
    assert 'nl_softmax=query (assumed: the file saves no network settings' in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(tmp_path / 'e' / 'img000.png')), with_query)


def test_a_long_whole_image_is_announced_and_tiles_show_progress(tmp_path, capsys, monkeypatch):
    """The expected time of a whole image (measured on this CPU) with the --tile that bounds it, and a heartbeat;
    tiled, a bar over the tiles. Every image larger than the timed attention counts as long here."""
    model, _ = _checkpoint(tmp_path, 'dn_rgb')
    cv2.imwrite(str(tmp_path / 'big.png'), synthetic_image(72, 80, 3))
    monkeypatch.setattr(test_time, 'LONG_SECONDS', -1)
    argv = ['--task', 'dn_rgb', '--model_path', model, '-i', str(tmp_path / 'big.png'), '--device', 'cpu']
    assert inference_rnan.main(argv + ['-o', str(tmp_path / 'whole')]) == 0
    captured = capsys.readouterr()
    assert re.search(r'\ninference_rnan\.py: big\.png, 80x72 whole: expected about \d+ s on cpu \(measured on this '
                     r"device: the attention's time grows with \(H\*W\)\^2, its memory linearly\); --tile 64 would "
                     r'take about \d+ s\.\n', captured.out), captured.out
    assert re.search(r'80x72 whole, about \d+ s: 00:\d\d elapsed', captured.err), captured.err
    assert inference_rnan.main(argv + ['-o', str(tmp_path / 'tiled'), '--tile', '48']) == 0
    captured = capsys.readouterr()
    assert 'expected about' not in captured.out and '0/4 [00:00<?, ?tile/s]' in captured.err
