"""RNAN: official parameter counts, any input size, gradients everywhere, implementations agree, bad arguments."""
import math
import pytest
import torch
from basicsr.archs import build_network

from rnan_basicsr.archs.rnan_arch import RNAN, MaskBranch, NonLocalBlock

TINY = dict(num_feat=8, num_group=3)


@pytest.mark.parametrize('kwargs,count', [(dict(num_in_ch=1, num_out_ch=1), 8_957_249), (dict(), 8_959_555),
                                          (dict(upscale=2), 9_107_267), (dict(upscale=3), 9_291_907),
                                          (dict(upscale=4), 9_254_979)])
def test_parameter_counts_of_the_official_configurations(kwargs, count):
    net = RNAN(**kwargs)
    assert sum(p.numel() for p in net.parameters()) == count
    assert not any('mean' in name for name, _ in net.named_parameters())


@pytest.mark.parametrize('upscale,channels', [(1, 1), (1, 3), (2, 3), (3, 3), (4, 3)])
@pytest.mark.parametrize('size', [(1, 1), (7, 50), (23, 29), (16, 16)])
def test_any_input_size(upscale, channels, size):
    net = RNAN(num_in_ch=channels, num_out_ch=channels, upscale=upscale, **TINY).eval()
    with torch.no_grad():
        out = net(torch.rand(2, channels, *size))
    assert out.shape == (2, channels, size[0] * upscale, size[1] * upscale)
    assert torch.isfinite(out).all()


def test_odd_size_crops_the_transposed_convolution():
    """An odd-size input gives the top-left of what the mask branch computes on the input padded by one row/col."""
    branch = MaskBranch(num_feat=4).eval()
    x = torch.rand(1, 4, 9, 11)
    with torch.no_grad():
        skip = branch.pre_block(x)
        up = branch.up(branch.low_blocks(branch.down(skip)))
        assert up.shape[-2:] == (10, 12)
        expected = torch.sigmoid(branch.conv1x1(branch.post_block(skip + up[..., :9, :11])))
        torch.testing.assert_close(branch(x), expected)


def test_restoration_is_input_plus_residual_and_starts_as_identity_for_zero_tail():
    net = RNAN(num_in_ch=1, num_out_ch=1, **TINY).eval()
    torch.nn.init.zeros_(net.conv_last.weight)
    torch.nn.init.zeros_(net.conv_last.bias)
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x)


def test_sr_mean_is_a_buffer_outside_the_state_dict():
    net = RNAN(upscale=2, **TINY)
    assert 'mean' in dict(net.named_buffers()) and 'mean' not in net.state_dict()
    torch.testing.assert_close(net.mean.flatten(), torch.tensor([0.4488, 0.4371, 0.4040]) * 255)
    assert net.to(torch.float64).mean.dtype == torch.float64


def test_nonlocal_w_is_zero_initialised_so_a_new_block_is_the_identity():
    block = NonLocalBlock(8)
    assert not block.W.weight.any() and not block.W.bias.any()
    x = torch.rand(1, 8, 5, 6)
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize('upscale,softmax', [(1, 'query'), (2, 'query'), (1, 'key')])
@pytest.mark.parametrize('seed', [0, 1])
def test_every_parameter_gets_a_gradient(upscale, softmax, seed):
    """All but one bias per non-local block: a softmax over queries (keys) ignores theta's (phi's) bias exactly.

    ``img_range=1``: on the [0, 255] scale the attention of a random network is saturated (one-hot), so theta and
    phi get vanishing (if non-zero) gradients there, which would make the check depend on the draw.
    """
    torch.manual_seed(seed)
    net = RNAN(upscale=upscale, nl_softmax=softmax, img_range=1., **TINY).double()
    for block in net.modules():  # W = 0 would hide theta/phi/g from the gradient
        if isinstance(block, NonLocalBlock):
            torch.nn.init.normal_(block.W.weight, std=0.1)
    net(torch.rand(2, 3, 11, 9, dtype=torch.float64)).square().mean().backward()
    scale = max(p.grad.abs().max().item() for p in net.parameters())
    dead_bias = 'non_local.theta.bias' if softmax == 'query' else 'non_local.phi.bias'
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        if name.endswith(dead_bias):  # f_ij + b . phi_j is constant over i: the softmax over i does not see it
            assert param.grad.abs().max() < 1e-15 * scale, name
        else:  # the smallest live gradient over 20 seeds was 1.6e-7 of the largest; the dead ones stay below 1e-19
            assert param.grad.abs().max() > 1e-10 * scale, name


def _sharp_attention_net(softmax, impl, dtype=torch.float64):
    torch.manual_seed(0)
    net = RNAN(num_in_ch=1, num_out_ch=1, nl_softmax=softmax, nl_impl=impl, **TINY)
    for block in net.modules():
        if isinstance(block, NonLocalBlock):
            torch.nn.init.normal_(block.W.weight, std=0.5)
    return net.to(dtype)


def _output_and_grads(net, x):
    out = net(x)
    return out.detach(), torch.autograd.grad(out.sum(), list(net.parameters()))


@pytest.mark.parametrize('softmax', ['query', 'key'])
def test_attention_implementations_give_the_same_network(softmax):
    """In float64 every implementation is the direct form to 1e-9, outputs and all parameter gradients."""
    x = torch.rand(2, 1, 14, 13, dtype=torch.float64)
    expected, expected_grads = _output_and_grads(_sharp_attention_net(softmax, 'direct'), x)
    scale = max(g.abs().max().item() for g in expected_grads)  # some biases have a zero gradient (see above)
    for impl in ('sdpa', 'chunked', 'auto'):
        out, grads = _output_and_grads(_sharp_attention_net(softmax, impl), x)
        torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9 * scale)


@pytest.mark.parametrize('softmax', ['query', 'key'])
def test_float32_gradients_are_as_accurate_as_the_direct_form(softmax):
    """Sharp attention amplifies float32 rounding in any implementation; ours must not add to it.

    The error of one draw is noisy (the direct form's own error spans 1e-4 to 2e-2 of the gradient scale over
    inputs), so the check is on the geometric mean of error ratios over six fixed inputs.
    """
    log_ratios = {'sdpa': [], 'chunked': []}
    for seed in range(6):
        x = torch.rand(2, 1, 14, 13, generator=torch.Generator().manual_seed(seed))
        _, truth = _output_and_grads(_sharp_attention_net(softmax, 'direct'), x.double())
        scale = max(g.abs().max().item() for g in truth)

        def error(impl):
            _, grads = _output_and_grads(_sharp_attention_net(softmax, impl, torch.float32), x)
            return max((g.double() - t).abs().max().item() for g, t in zip(grads, truth)) / scale

        direct_error = error('direct')
        assert direct_error < 5e-2
        for impl in log_ratios:
            log_ratios[impl].append(math.log(error(impl) / direct_error))
    for impl, logs in log_ratios.items():
        assert math.exp(sum(logs) / len(logs)) < 3, (impl, [round(math.exp(v), 2) for v in logs])


def test_the_two_softmax_modes_differ():
    torch.manual_seed(0)
    a = RNAN(num_in_ch=1, num_out_ch=1, nl_softmax='query', **TINY)
    for block in a.modules():
        if isinstance(block, NonLocalBlock):
            torch.nn.init.normal_(block.W.weight, std=0.5)
    b = RNAN(num_in_ch=1, num_out_ch=1, nl_softmax='key', **TINY)
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 1, 10, 10)
    assert (a(x) - b(x)).abs().max() > 1e-4


def test_built_from_options_through_basicsr_registry():
    net = build_network({'type': 'RNAN', 'num_in_ch': 1, 'num_out_ch': 1, 'num_feat': 8, 'num_group': 2})
    assert isinstance(net, RNAN) and len(net.body) == 0


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_feat=7), 'num_feat must be an even'),
    (dict(num_group=1), 'num_group must be >= 2'),
    (dict(upscale=5), 'upscale must be 1'),
    (dict(upscale=0), 'upscale must be 1'),
    (dict(num_in_ch=1, num_out_ch=3), 'must equal num_out_ch'),
    (dict(num_in_ch=1, num_out_ch=1, upscale=2), 'one value per channel'),
    (dict(nl_softmax='rows'), "nl_softmax must be 'query'"),
    (dict(nl_impl='fast'), 'nl_impl must be one of'),
])
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RNAN(**kwargs)


def test_grey_super_resolution_with_its_own_mean():
    net = RNAN(num_in_ch=1, num_out_ch=1, upscale=2, rgb_mean=[0.44], **TINY)
    assert net(torch.rand(1, 1, 5, 6)).shape == (1, 1, 10, 12)
