"""Reading any checkpoint form: .safetensors with its settings, key selection, training states and files that are no
checkpoint refused with what they are."""
import pytest
import torch

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.weights.checkpoint import find_params, load_checkpoint, save_safetensors, select_params
from rnan_basicsr.weights.fit import load_rnan


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


def test_a_training_state_is_refused_where_weights_are_wanted(tmp_path):
    state = {'iter': 3, 'epoch': 0, 'optimizers': [], 'schedulers': []}
    with pytest.raises(InputError, match='training state'):
        find_params(state)
    torch.save(state, tmp_path / '3.state')
    with pytest.raises(InputError, match=r"3\.state' is a BasicSR training state \(iteration 3\), not network weights"):
        load_checkpoint(str(tmp_path / '3.state'), 'path.pretrain_network_g')


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
