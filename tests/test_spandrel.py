"""RNAN in spandrel: both layouts load into an ImageModelDescriptor that computes what our RNAN computes, and neither
RNAN nor spandrel's own architectures claim each other's files."""
import pytest
import re
import spandrel
import torch
from collections import OrderedDict
from conftest import official_shapes

from rnan_basicsr import spandrel as rnan_spandrel
from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.weights import load_rnan, save_safetensors

TINY = dict(num_feat=8, num_group=3)


@pytest.fixture(scope='module')
def loader():
    rnan_spandrel.install(ignore_duplicates=True)
    return spandrel.ModelLoader()


def tiny_rnan(channels=3, upscale=1, seed=0):
    torch.manual_seed(seed)
    net = RNAN(num_in_ch=channels, num_out_ch=channels, upscale=upscale, **TINY).eval()
    with torch.no_grad():  # W of the non-local blocks starts at zero: give the attention something to do
        for name, param in net.named_parameters():
            if '.non_local.W.' in name:
                param.normal_(0, 0.02)
    return net


def tiny_official_state_dict(variant, seed=0):
    """The keys of a released checkpoint (tests/data/official_keys) with 8 features and 3 groups: 64 -> 8, 32 -> 4,
    256 -> 32, 576 -> 72 channels, and ``body.8`` (the closing body conv of 10 groups) renamed ``body.1``."""
    generator = torch.Generator().manual_seed(seed)
    width = {64: 8, 32: 4, 256: 32, 576: 72}
    state_dict = OrderedDict()
    for key, shape in official_shapes(variant).items():
        match = re.match(r'body\.(\d+)\.', key)
        if match and match.group(1) not in ('0', '8'):
            continue
        key = key.replace('body.8.', 'body.1.', 1) if key.startswith('body.8.') else key
        shape = tuple(width.get(d, d) if i < 2 else d for i, d in enumerate(shape))
        state_dict[key] = 0.05 * torch.randn(shape, generator=generator)
    if 'sub_mean.weight' in state_dict:
        mean = torch.tensor([0.4488, 0.4371, 0.4040])  # DIV2K's, as in every released SR checkpoint
        for name, sign in (('sub_mean', -1), ('add_mean', 1)):
            state_dict[f'{name}.weight'] = torch.eye(3).view(3, 3, 1, 1)
            state_dict[f'{name}.bias'] = sign * 255 * mean
    return state_dict


def assert_same_output(model, net, channels, size=(13, 18)):
    x = torch.rand(1, channels, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x).clamp(0, 1)
    out = model(x)  # spandrel's call: [0, 1] in, clamped [0, 1] out
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert 0 < expected.std()  # not all clamped away


@pytest.mark.parametrize('channels, upscale, suffix', [(1, 1, '.pth'), (3, 2, '.safetensors'), (3, 3, '.pth')])
def test_our_layout_loads_with_the_right_descriptor(tmp_path, loader, channels, upscale, suffix):
    net = tiny_rnan(channels, upscale)
    path = str(tmp_path / f'net_g{suffix}')
    if suffix == '.pth':
        torch.save({'params': net.state_dict(), 'params_ema': net.state_dict()}, path)
    else:
        save_safetensors(net.state_dict(), path, dict(type='RNAN', num_in_ch=channels, num_out_ch=channels,
                                                      upscale=upscale, **TINY))
    model = loader.load_from_file(path)
    assert isinstance(model, spandrel.ImageModelDescriptor)
    assert model.architecture.id == 'RNAN'
    assert (model.scale, model.input_channels, model.output_channels) == (upscale, channels, channels)
    assert model.purpose == ('SR' if upscale > 1 else 'Restoration')
    assert model.size_requirements.none
    assert model.tiling is spandrel.ModelTiling.DISCOURAGED
    assert_same_output(model, net, channels)


def test_a_checkpoint_training_wrote_loads_with_its_saved_settings(tmp_path, loader):
    """RNANModel's net_g_*.pth with nl_softmax: key and its own rgb_mean (SR): spandrel builds exactly that network,
    from the settings in the state dict's root _metadata (spandrel keeps only the unwrapped state dict)."""
    from basicsr.models import build_model
    settings = dict(nl_softmax='key', rgb_mean=[0.5, 0.4, 0.3])
    folders = {key: str(tmp_path / key) for key in ('models', 'training_states')}
    network = dict(type='RNAN', num_in_ch=3, num_out_ch=3, upscale=2, **TINY, **settings)
    model = build_model({'name': 'spandrel', 'model_type': 'RNANModel', 'num_gpu': 0, 'is_train': False,
                         'dist': False, 'rank': 0, 'world_size': 1, 'scale': 2, 'network_g': network,
                         'path': dict(pretrain_network_g=None, **folders), 'val': {}})
    net = tiny_rnan(3, 2)
    model.net_g.load_state_dict(net.state_dict())
    model.save_network(model.net_g, 'net_g', -1)
    loaded = loader.load_from_file(str(tmp_path / 'models' / 'net_g_latest.pth'))
    assert loaded.model.group_nl_low.block.mask.non_local.softmax == 'key'
    assert_same_output(loaded, model.net_g.eval(), 3)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():  # RNAN's defaults (query softmax, DIV2K mean) would compute something else
        assert (loaded.model(x) - net(x)).abs().max() > 1e-4


@pytest.mark.parametrize('variant, channels, upscale',
                         [('keys_rest_c1', 1, 1), ('keys_rest_c3', 3, 1), ('keys_sr_x2', 3, 2), ('keys_sr_x4', 3, 4)])
def test_authors_layout_loads_and_matches_our_conversion(tmp_path, loader, variant, channels, upscale):
    path = str(tmp_path / 'RNAN_authors.pt')  # the released files are .pt, as torch.save writes them
    torch.save(tiny_official_state_dict(variant), path)
    model = loader.load_from_file(path)
    assert model.architecture.id == 'RNAN'
    assert (model.scale, model.input_channels, model.output_channels) == (upscale, channels, channels)
    assert model.purpose == ('SR' if upscale > 1 else 'Restoration')
    net, _ = load_rnan(path)  # this package's own conversion of the same file
    assert_same_output(model, net, channels, size=(9, 12))


def spandrel_arch_state_dicts():
    """Small networks built from spandrel's own classes: RCAN shares the authors' EDSR-style names (head, body, tail),
    SwinIR our layout's conv_first / conv_after_body / conv_last."""
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.RCAN import RCAN
    from spandrel.architectures.SwinIR import SwinIR

    return {
        'RCAN': RCAN(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4).state_dict(),
        'ESRGAN': ESRGAN(num_filters=16, num_blocks=2, scale=2).state_dict(),
        'SwinIR': SwinIR(img_size=16, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                         upsampler='pixelshuffle').state_dict(),
    }


def test_rnan_claims_no_other_architecture(loader):
    from basicsr.archs.rcan_arch import RCAN as BasicSRRCAN

    for arch_id, state_dict in spandrel_arch_state_dicts().items():
        assert not rnan_spandrel.RNAN_SUPPORT.detect(state_dict), arch_id
        assert loader.load_from_state_dict(state_dict).architecture.id == arch_id
    # BasicSR's RCAN has our layout's conv_first / body / conv_after_body / upsample / conv_last; spandrel has no
    # architecture for it, and RNAN must not take it either
    basicsr_rcan = BasicSRRCAN(3, 3, num_feat=16, num_group=2, num_block=2, squeeze_factor=4, upscale=2).state_dict()
    assert not rnan_spandrel.RNAN_SUPPORT.detect(basicsr_rcan)


def test_no_spandrel_architecture_claims_rnan_files(loader):
    """Each of spandrel's detectors (not only those before RNAN in the detection order) refuses RNAN's files."""
    rnan_state_dicts = {f'ours x{s}, {c} ch': tiny_rnan(c, s).state_dict() for c, s in ((1, 1), (3, 1), (3, 2))}
    rnan_state_dicts.update({variant: tiny_official_state_dict(variant) for variant in ('keys_rest_c1', 'keys_sr_x2')})
    others = [arch for arch in spandrel.MAIN_REGISTRY.architectures('detection') if arch.architecture.id != 'RNAN']
    assert len(others) >= 40
    for name, state_dict in rnan_state_dicts.items():
        claimed = [arch.architecture.id for arch in others if arch.detect(state_dict)]
        assert claimed == [], name
        assert loader.load_from_state_dict(state_dict).architecture.id == 'RNAN'


def test_install_adds_rnan_once():
    rnan_spandrel.install(ignore_duplicates=True)
    assert 'RNAN' in spandrel.MAIN_REGISTRY
    assert rnan_spandrel.install(ignore_duplicates=True) == []
    with pytest.raises(spandrel.DuplicateArchitectureError):
        rnan_spandrel.install()
