"""Fitting a network: a file's saved settings against flags and option files."""
import pytest

from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.weights.fit import check_saved_settings, network_settings


def test_saved_settings_win_and_a_contradiction_is_refused(tmp_path):
    """network_settings: a file's saved nl_softmax beats the default, and a value given against it is refused;
    check_saved_settings: an option file's network_g (explicit or by default) against the file's saved settings."""
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
