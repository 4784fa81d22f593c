"""The exact non-local attention: every implementation equals the direct N x N form, forward and backward."""
import pytest
import torch

from rnan_basicsr.archs import nonlocal_attention as nla
from rnan_basicsr.archs.nonlocal_attention import (attention_chunked, attention_direct, attention_sdpa,
                                                   nonlocal_attention)


def _inputs(b, n, c, c_g=None, scale=2.0, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    theta, phi = (torch.randn(b, n, c, generator=generator, dtype=dtype) * scale for _ in range(2))
    g = torch.randn(b, n, c_g or c, generator=generator, dtype=dtype)
    return [t.requires_grad_() for t in (theta, phi, g)]


def _forward_backward(function, inputs, grad_out):
    for t in inputs:
        t.grad = None
    out = function(*inputs)
    out.backward(grad_out)
    return [out.detach()] + [t.grad.clone() for t in inputs]


IMPLEMENTATIONS = {
    'sdpa': attention_sdpa,
    'chunked': lambda t, p, g, softmax: attention_chunked(t, p, g, softmax, chunk_size=7),  # uneven last chunk
    'auto': lambda t, p, g, softmax: nonlocal_attention(t, p, g, softmax, impl='auto'),
}


@pytest.mark.parametrize('softmax', ['query', 'key'])
@pytest.mark.parametrize('impl', sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize('shape', [(2, 50, 8, 8), (1, 33, 4, 6), (2, 17, 6, 3), (3, 1, 2, 2)])
def test_equals_direct_form_forward_and_backward(softmax, impl, shape):
    inputs = _inputs(*shape)
    grad_out = torch.randn(shape[0], shape[1], shape[3])
    expected = _forward_backward(lambda t, p, g: attention_direct(t, p, g, softmax), inputs, grad_out)
    got = _forward_backward(lambda t, p, g: IMPLEMENTATIONS[impl](t, p, g, softmax), inputs, grad_out)
    for name, e, o in zip(('y', 'd_theta', 'd_phi', 'd_g'), expected, got):
        torch.testing.assert_close(o, e, rtol=1e-4, atol=1e-4 * e.abs().max().item(), msg=name)


def test_query_softmax_normalises_over_queries_for_each_key():
    """The released code's quirk: with g = one-hot keys, column j of the output sums over i to 1."""
    n = 20
    theta, phi, _ = _inputs(1, n, 4)
    g = torch.eye(n).unsqueeze(0)  # y[i, j] = weight(i, j)
    with torch.no_grad():
        weights = nonlocal_attention(theta, phi, g, 'query')
        torch.testing.assert_close(weights.sum(1), torch.ones(1, n))  # over queries i
        assert not torch.allclose(weights.sum(2), torch.ones(1, n))  # not over keys
        torch.testing.assert_close(nonlocal_attention(theta, phi, g, 'key').sum(2), torch.ones(1, n))


@pytest.mark.parametrize('softmax', ['query', 'key'])
def test_large_logits_stay_finite_and_exact(softmax):
    """RNAN works on a [0, 255] scale: logits in the thousands must not overflow anywhere."""
    theta, phi, g = (t.detach() for t in _inputs(1, 300, 8, scale=30.0))
    expected = attention_direct(theta.double(), phi.double(), g.double(), softmax)
    for impl in ('sdpa', 'chunked'):
        got = nonlocal_attention(theta, phi, g, softmax, impl=impl)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got.double(), expected, rtol=1e-3, atol=1e-3)


def test_float64_gradcheck_of_the_fused_query_softmax():
    inputs = _inputs(1, 9, 3, scale=1.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t, p, g: attention_sdpa(t, p, g, 'query'), inputs)


def test_public_sdpa_fallback_for_the_key_logsumexp(monkeypatch):
    """Without the CPU kernel's log-sum-exp (GPUs, other torch versions) two public SDPA calls give the same L_j."""
    theta, phi, _ = (t.detach() for t in _inputs(2, 40, 8, scale=3.0))
    expected = torch.logsumexp(torch.matmul(phi, theta.transpose(1, 2)), dim=-1)
    assert nla._key_logsumexp_cpu_kernel(theta, phi) is not None
    torch.testing.assert_close(nla._key_logsumexp(theta, phi), expected, rtol=1e-5, atol=1e-4)
    monkeypatch.setattr(nla, '_key_logsumexp_cpu_kernel', lambda theta, phi: None)
    torch.testing.assert_close(nla._key_logsumexp(theta, phi), expected, rtol=1e-5, atol=1e-4)
    got = attention_sdpa(theta, phi, _inputs(2, 40, 8)[2].detach(), 'query')
    assert torch.isfinite(got).all()


def test_half_precision_inputs_are_computed_in_float32():
    theta, phi, g = (t.detach() for t in _inputs(1, 30, 8, scale=10.0))
    expected = attention_direct(theta, phi, g, 'query')
    got = nonlocal_attention(theta.bfloat16(), phi.bfloat16(), g.bfloat16(), 'query')
    assert got.dtype == torch.bfloat16
    with torch.autocast('cpu', dtype=torch.bfloat16):
        under_autocast = nonlocal_attention(theta, phi, g, 'query')
    torch.testing.assert_close(under_autocast.float(), expected, rtol=1e-5, atol=1e-4)
    assert torch.isfinite(got).all()


def test_bad_arguments():
    theta, phi, g = (t.detach() for t in _inputs(1, 4, 2))
    with pytest.raises(ValueError, match='softmax'):
        nonlocal_attention(theta, phi, g, 'rows')
    with pytest.raises(ValueError, match='impl'):
        nonlocal_attention(theta, phi, g, 'query', impl='fast')
    with pytest.raises(ValueError, match='same shape'):
        nonlocal_attention(theta, phi[:, :3], g)


def test_head_sizes_are_aligned_for_gpu_kernels_only():
    assert nla.head_alignment('cuda') == nla.head_alignment('cuda:1') == nla.HEAD_ALIGNMENT == 8
    assert nla.head_alignment('cpu') == 1


def test_sdpa_gets_one_common_head_size(monkeypatch):
    widths = []
    real_sdpa = torch.nn.functional.scaled_dot_product_attention

    def recording_sdpa(query, key, value, **kwargs):
        widths.append((query.shape[-1], key.shape[-1], value.shape[-1]))
        return real_sdpa(query, key, value, **kwargs)

    monkeypatch.setattr(torch.nn.functional, 'scaled_dot_product_attention', recording_sdpa)
    monkeypatch.setattr(nla, '_key_logsumexp_cpu_kernel', lambda theta, phi: None)  # exercise every SDPA call
    theta, phi, g = (t.detach() for t in _inputs(1, 12, 5, c_g=3))
    torch.testing.assert_close(attention_sdpa(theta, phi, g, 'query'), attention_direct(theta, phi, g, 'query'))
    # q, k and v share one head size (the fused kernels need it), on the CPU the widest of them, unpadded:
    # theta 5 (+1 shift channel, +1 sink channel in the second pass), g 3 (+1 sink channel)
    assert widths and all(q == k == v for q, k, v in widths)
    assert {q for q, _, _ in widths} <= {5, 6, 7} and max(q for q, _, _ in widths) == 7
