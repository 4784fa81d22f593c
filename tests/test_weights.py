"""Converting the authors' checkpoints: every official key maps onto RNAN, round trip by value, clear errors."""
import pytest
import subprocess
import sys
import torch
from collections import OrderedDict
from conftest import ROOT, official_shapes
from os import path as osp

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.tools.convert_official import main as convert_main
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.weights import (convert_official_state_dict, find_params, infer_official_config, load_checkpoint,
                                  load_rnan, save_safetensors, select_params)

VARIANTS = {
    'keys_rest_c1': dict(num_in_ch=1, num_out_ch=1, num_feat=64, num_group=10, upscale=1),
    'keys_rest_c3': dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, upscale=1),
    'keys_sr_x2': dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, upscale=2),
    'keys_sr_x3': dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, upscale=3),
    'keys_sr_x4': dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, upscale=4),
}
MEAN = torch.tensor([0.4488, 0.4371, 0.4040])


def official_state_dict(variant, seed=0):
    """Random tensors with the keys and shapes of a released checkpoint (mean shifts as the authors build them)."""
    generator = torch.Generator().manual_seed(seed)
    state_dict = OrderedDict()
    for key, shape in official_shapes(variant).items():
        state_dict[key] = torch.randn(shape, generator=generator)
    if 'sub_mean.weight' in state_dict:
        for name, sign in (('sub_mean', -1), ('add_mean', 1)):
            state_dict[f'{name}.weight'] = torch.eye(3).view(3, 3, 1, 1)
            state_dict[f'{name}.bias'] = sign * 255 * MEAN
    return state_dict


@pytest.mark.slow
@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_round_trip_over_the_official_keys(variant):
    official = official_state_dict(variant)
    config = infer_official_config(official)
    assert {k: v for k, v in config.items() if k != 'rgb_mean'} == VARIANTS[variant]
    converted = convert_official_state_dict(official)
    net = RNAN(**config)
    net.load_state_dict(converted, strict=True)
    # every official tensor (but the mean shifts) lands in exactly one RNAN tensor, by value
    ours = net.state_dict()
    official_values = {k: v for k, v in official.items() if 'mean' not in k}
    assert len(ours) == len(official_values)
    matched = {k for k, v in official_values.items() if any(torch.equal(v, w) for w in ours.values())}
    assert matched == set(official_values)
    if config['upscale'] > 1:
        torch.testing.assert_close(torch.tensor(config['rgb_mean']), MEAN, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_wrapped_and_prefixed_checkpoints():
    official = official_state_dict('keys_rest_c1')
    plain = convert_official_state_dict(official)
    for wrapper in ('state_dict', 'model', 'params', 'params_ema'):
        wrapped = {wrapper: OrderedDict((f'module.{k}', v) for k, v in official.items())}
        converted = convert_official_state_dict(wrapped)
        assert list(converted) == list(plain) and all(torch.equal(converted[k], plain[k]) for k in plain)


def test_other_group_counts_are_inferred():
    """A 3-group network in the authors' layout: body.0 is the only local group and body.1 the closing conv."""
    official = official_state_dict('keys_rest_c1')
    three_groups = OrderedDict()
    for key, value in official.items():
        if key.startswith('body.8.'):
            three_groups['body.1.' + key[len('body.8.'):]] = value
        elif not key.startswith('body.') or key.startswith('body.0.'):
            three_groups[key] = value
    config = infer_official_config(three_groups)
    assert config['num_group'] == 3
    net = RNAN(**config)
    net.load_state_dict(convert_official_state_dict(three_groups), strict=True)
    assert torch.equal(net.conv_after_body.weight, official['body.8.weight'])
    assert torch.equal(net.body[0].block.mask.down.weight, official['body.0.body.0.RA_MB.0.MB_Down.0.weight'])


def test_wrong_missing_and_misshapen_keys_are_listed():
    official = official_state_dict('keys_rest_c3')
    renamed = OrderedDict(official)
    renamed['body.3.body.0.RA_TB.0.body.0.body.1.weight'] = renamed.pop('body.3.body.0.RA_TB.0.body.0.body.0.weight')
    with pytest.raises(InputError) as error:
        convert_official_state_dict(renamed)
    message = str(error.value)
    assert "match no RNAN key: body.3.body.0.RA_TB.0.body.0.body.1.weight" in message
    assert 'missing from the checkpoint: body.3.block.trunk.body.0.conv1.weight' in message
    misshapen = OrderedDict(official)
    misshapen['body.2.body.1.weight'] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(InputError, match=r'body.2.conv.weight: \(64, 64, 1, 1\) vs \(64, 64, 3, 3\)'):
        convert_official_state_dict(misshapen)


def test_refuses_what_is_not_an_authors_checkpoint():
    with pytest.raises(InputError, match='already in rnan_basicsr format'):
        convert_official_state_dict({'params': RNAN(num_feat=8, num_group=2).state_dict()})
    with pytest.raises(InputError, match='training state'):
        find_params({'iter': 3, 'epoch': 0, 'optimizers': [], 'schedulers': []})
    with pytest.raises(InputError, match='head.0.weight is missing'):
        convert_official_state_dict({'conv.weight': torch.zeros(1)})


@pytest.mark.slow
def test_convert_script(tmp_path):
    source = tmp_path / 'model_x2.pt'
    torch.save(official_state_dict('keys_sr_x2'), source)
    output = tmp_path / 'out' / 'RNAN_SR_x2.pth'
    script = osp.join(ROOT, 'scripts', 'convert_official_rnan.py')

    def run(*args):
        return subprocess.run([sys.executable, script, *args], capture_output=True, text=True)

    result = run('--input', str(source), '--output', str(output))
    assert result.returncode == 0, result.stderr
    assert 'upscale: 2' in result.stdout and 'num_group: 10' in result.stdout and 'num_in_ch: 3' in result.stdout
    checkpoint = torch.load(output, weights_only=True)
    RNAN(upscale=2).load_state_dict(checkpoint['params'], strict=True)
    before = output.read_bytes()
    result = run('--input', str(source), '--output', str(output))
    assert result.returncode == 2 and '--force' in result.stderr and 'Traceback' not in result.stderr
    assert output.read_bytes() == before
    assert run('--input', str(source), '--output', str(output), '--force').returncode == 0
    result = run('--input', str(tmp_path / 'missing.pt'), '--output', str(tmp_path / 'x.pth'))
    assert result.returncode == 2 and 'does not exist' in result.stderr
    # .safetensors output: the same weights, with the network_g settings in the file
    assert convert_main(['--input', str(source), '--output', str(tmp_path / 'RNAN_SR_x2.safetensors')]) == 0
    net, config = load_rnan(str(tmp_path / 'RNAN_SR_x2.safetensors'), task='sr', scale=2)
    torch.testing.assert_close(torch.tensor(config['rgb_mean']), MEAN, rtol=0, atol=1e-6)
    assert all(torch.equal(v, checkpoint['params'][k]) for k, v in net.state_dict().items())


def test_safetensors_round_trip_carries_the_network_settings(tmp_path):
    config = dict(num_in_ch=1, num_out_ch=1, num_feat=8, num_group=2, upscale=1, nl_softmax='key')
    torch.manual_seed(0)
    net = RNAN(**config).eval()
    path = str(tmp_path / 'net.safetensors')
    save_safetensors(net.state_dict(), path, dict(type='RNAN', **config))
    checkpoint = load_checkpoint(path)
    assert checkpoint['network_g'] == dict(type='RNAN', **config)
    state_dict, used = select_params(checkpoint, 'params_ema', path)  # no EMA weights: params, as BasicSR
    assert used == 'params' and all(torch.equal(state_dict[k], v) for k, v in net.state_dict().items())
    rebuilt, rebuilt_config = load_rnan(path, task='dn_gray')
    assert rebuilt_config['nl_softmax'] == 'key'  # from the file's settings: the weights cannot tell
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))
    with pytest.raises(InputError, match='It fits --task car / dn_gray'):
        load_rnan(path, task='dn_rgb')
    (tmp_path / 'bad.safetensors').write_bytes(b'garbage')
    with pytest.raises(InputError, match='as a .safetensors file'):
        load_checkpoint(str(tmp_path / 'bad.safetensors'))


def test_saved_settings_win_and_a_contradiction_is_refused(tmp_path):
    """network_settings: a file's saved nl_softmax beats the default, and a value given against it is refused;
    check_saved_settings: an option file's network_g (explicit or by default) against the file's saved settings."""
    from rnan_basicsr.weights import check_saved_settings, network_settings
    saved = {'params': {}, 'network_g': {'type': 'RNAN', 'nl_softmax': 'key', 'img_range': 255., 'nl_impl': 'direct'}}
    settings, sources = network_settings(saved, {'nl_softmax': None, 'nl_impl': 'chunked'}, 'f.safetensors')
    assert settings == {'nl_softmax': 'key', 'img_range': 255., 'nl_impl': 'chunked'}
    assert sources == {'img_range': 'saved', 'rgb_mean': 'default', 'nl_softmax': 'saved'}
    assert network_settings(saved, {'nl_softmax': 'key'}, 'f.safetensors')[0]['nl_softmax'] == 'key'
    with pytest.raises(InputError, match="--nl_softmax query contradicts --model_path 'f.safetensors', whose saved "
                       'network_g has nl_softmax: key'):
        network_settings(saved, {'nl_softmax': 'query'}, 'f.safetensors')
    assert network_settings({'params': {}}, {'nl_softmax': 'key'}, 'f.pth')[1]['nl_softmax'] == 'given'
    assert network_settings({'params': {}}, {'nl_softmax': None}, 'f.pth')[1]['nl_softmax'] == 'default'

    network = dict(type='RNAN', num_feat=8)
    assert check_saved_settings(saved, network, 'f.safetensors') == {'nl_softmax': 'key', 'img_range': 255.}  # used
    with pytest.raises(InputError, match=r"saved with network_g.nl_softmax: key, but network_g has nl_softmax: query; "
                       r".*Set network_g.nl_softmax: key, or leave it out"):
        check_saved_settings(saved, dict(network, nl_softmax='query'), 'f.safetensors')
    assert check_saved_settings(saved, dict(network, nl_softmax='key', img_range=255), 'f.safetensors') == {}
    assert check_saved_settings({'params': {}}, network, 'f.pth') == {}  # nothing saved: nothing to contradict
    sr = {'params': {}, 'network_g': {'type': 'RNAN', 'upscale': 2, 'rgb_mean': [0.5, 0.5, 0.5]}}
    with pytest.raises(InputError, match=r'network_g.rgb_mean: \[0.5, 0.5, 0.5\], but network_g has rgb_mean: '):
        check_saved_settings(sr, dict(network, upscale=2, rgb_mean=(0.4, 0.4, 0.4)), 'f.safetensors')
    assert check_saved_settings(sr, dict(network, upscale=2, rgb_mean=(0.5, 0.5, 0.5)), 'f.safetensors') == {}


def test_the_converter_saves_the_authors_softmax_in_a_safetensors_file(tmp_path):
    from rnan_basicsr.tools.convert_official import convert
    state_dict = {key: torch.randn(shape) for key, shape in official_shapes('keys_rest_c1').items()}
    torch.save(state_dict, tmp_path / 'official.pt')
    convert(str(tmp_path / 'official.pt'), str(tmp_path / 'converted.safetensors'))
    saved = load_checkpoint(str(tmp_path / 'converted.safetensors'))['network_g']
    assert saved['nl_softmax'] == 'query' and saved['img_range'] == 255


def test_a_file_that_cannot_be_loaded_is_said_to_be_what_it_is(tmp_path):
    """Code, text, empty and truncated files: one sentence saying what the file is, never torch's advice to load it
    with weights_only=False (which would run the code)."""
    class Payload:
        def __reduce__(self):
            return (print, ('ran',))

    torch.save({'params': {'w': torch.zeros(1)}, 'extra': Payload()}, tmp_path / 'code.pth')
    (tmp_path / 'notes.pth').write_text('hello world\n')
    (tmp_path / 'empty.pth').write_bytes(b'')
    torch.save({'params': {'w': torch.zeros(1000)}}, tmp_path / 'full.pth')
    data = (tmp_path / 'full.pth').read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    for name, words in [('code.pth', 'it holds code: loading it would import and call print'),
                        ('notes.pth', "it is a text file, not a checkpoint (it starts with 'hello world')"),
                        ('empty.pth', 'it is empty'), ('cut.pth', 'it is truncated')]:
        with pytest.raises(InputError) as error:
            load_checkpoint(str(tmp_path / name), '--model_path')
        message = str(error.value)
        assert message.startswith(f"cannot load --model_path '{tmp_path / name}': {words}"), message
        assert 'weights_only=False' not in message and 'likely succeed' not in message and 'KeyError' not in message
