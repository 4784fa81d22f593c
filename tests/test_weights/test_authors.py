"""The authors' layout onto ours: every official key maps onto RNAN, round trip by value, the configuration read off
the renamed keys, clear errors; the converter script."""
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
from rnan_basicsr.weights.authors import convert_official_state_dict
from rnan_basicsr.weights.checkpoint import load_checkpoint
from rnan_basicsr.weights.fit import load_rnan

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
    converted, config = convert_official_state_dict(official)
    assert {k: v for k, v in config.items() if k != 'rgb_mean'} == VARIANTS[variant]
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
    plain, config = convert_official_state_dict(official)
    for wrapper in ('state_dict', 'model', 'params', 'params_ema'):
        wrapped = {wrapper: OrderedDict((f'module.{k}', v) for k, v in official.items())}
        converted, wrapped_config = convert_official_state_dict(wrapped)
        assert list(converted) == list(plain) and all(torch.equal(converted[k], plain[k]) for k in plain)
        assert wrapped_config == config


def test_other_group_counts_are_inferred():
    """A 3-group network in the authors' layout: body.0 is the only local group and body.1 the closing conv."""
    official = official_state_dict('keys_rest_c1')
    three_groups = OrderedDict()
    for key, value in official.items():
        if key.startswith('body.8.'):
            three_groups['body.1.' + key[len('body.8.'):]] = value
        elif not key.startswith('body.') or key.startswith('body.0.'):
            three_groups[key] = value
    converted, config = convert_official_state_dict(three_groups)
    assert config['num_group'] == 3
    net = RNAN(**config)
    net.load_state_dict(converted, strict=True)
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


def test_the_converter_saves_the_authors_softmax_in_a_safetensors_file(tmp_path):
    from rnan_basicsr.tools.convert_official import convert
    state_dict = {key: torch.randn(shape) for key, shape in official_shapes('keys_rest_c1').items()}
    torch.save(state_dict, tmp_path / 'official.pt')
    convert(str(tmp_path / 'official.pt'), str(tmp_path / 'converted.safetensors'))
    saved = load_checkpoint(str(tmp_path / 'converted.safetensors'))['network_g']
    assert saved['nl_softmax'] == 'query' and saved['img_range'] == 255
