"""RNAN under float16 and bfloat16 autocast (CPU autocast runs the numerics of GPU AMP): finite, >= 40 dB from
float32, and the attention's own backward pass in float32 even when called inside an autocast region.

The query-axis softmax output y_i = sum_j exp(f_ij - L_j) g_j is no convex combination: on an image of N positions
one query can collect the weight of most keys, so |y| grows like N |g| and passes float16's 65504. The network made
here has y beyond that range (checked), as a trained RNAN has on natural images of a few hundred pixels.
"""
import numpy as np
import pytest
import torch

from rnan_basicsr.archs.nonlocal_attention import attention_sdpa, nonlocal_attention
from rnan_basicsr.archs.rnan_arch import RNAN, NonLocalBlock

FP16_MAX = torch.finfo(torch.float16).max
DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def psnr(out, ref):
    mse = torch.mean((out.float().clamp(0, 1) - ref.clamp(0, 1))**2).item()
    return float('inf') if mse == 0 else 10 * np.log10(1 / mse)


def image(size, channels=3):
    """A smooth colour image (1, C, size, size) in [0, 1] with structure (so that attention is not uniform)."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing='ij')
    planes = [0.5 + 0.4 * torch.sin(0.21 * yy + c) * torch.cos(0.13 * xx - c) for c in range(channels)]
    return torch.stack(planes).unsqueeze(0)


def network_with_large_attention_outputs(seed=0):
    """A tiny RNAN whose non-local outputs y exceed float16's range on a 48x48 image, and whose W is not zero."""
    torch.manual_seed(seed)
    net = RNAN(3, 3, num_feat=8, num_group=2).eval()
    with torch.no_grad():
        for block in net.modules():
            if isinstance(block, NonLocalBlock):
                block.g.weight.mul_(16)  # |y| ~ N |g|: 48x48 positions put it beyond 65504 ...
                torch.nn.init.normal_(block.W.weight, std=0.02 / 16)  # ... and W brings it back to feature scale
    return net


def attention_output_maxima(net, lq):
    maxima = []
    hooks = [block.W.register_forward_hook(lambda m, inputs, out: maxima.append(inputs[0].abs().max().item()))
             for block in net.modules() if isinstance(block, NonLocalBlock)]
    with torch.no_grad():
        net(lq)
    for hook in hooks:
        hook.remove()
    return maxima


@pytest.mark.parametrize('precision', sorted(DTYPES))
def test_autocast_output_is_finite_and_within_40_db_of_float32(precision):
    net, lq = network_with_large_attention_outputs(), image(48)
    assert max(attention_output_maxima(net, lq)) > FP16_MAX  # the case that broke float16
    with torch.no_grad():
        reference = net(lq)
        with torch.autocast('cpu', dtype=DTYPES[precision]):
            out = net(lq)
    assert torch.isfinite(out).all()
    assert psnr(out, reference) >= 40


def block_output_maxima(net, lq):
    """max |x + W(y)| of each non-local block: what the convolutions after it get."""
    maxima = []
    hooks = [block.register_forward_hook(lambda m, inputs, out: maxima.append(out.abs().max().item()))
             for block in net.modules() if isinstance(block, NonLocalBlock)]
    with torch.no_grad():
        net(lq)
    for hook in hooks:
        hook.remove()
    return maxima


def test_fp16_autocast_is_finite_where_the_non_local_block_output_itself_exceeds_float16():
    """A trained quickstart model (200 iterations) gave 6.8 dB under fp16 autocast: its block output x + W(y) reached
    1.1e5, and the mask branch's next float16 convolution turned it into inf / nan. (bfloat16 has float32's range;
    on this network, whose W is blown up 256 times, its 8-bit mantissa alone is 36 dB from float32.)"""
    net, lq = network_with_large_attention_outputs(), image(48)
    with torch.no_grad():
        for block in net.modules():
            if isinstance(block, NonLocalBlock):
                block.W.weight.mul_(256)  # W(y) now beyond float16's range as well
    assert max(block_output_maxima(net, lq)) > FP16_MAX
    with torch.no_grad():
        reference = net(lq)
        with torch.autocast('cpu', dtype=torch.float16):
            out = net(lq)
    assert torch.isfinite(out).all()
    assert psnr(out, reference) >= 40


def loss_gradients(net, lq, gt, dtype):
    """Parameter gradients of a scaled L2 loss, the forward under autocast(dtype) (None: float32).

    The loss is multiplied by 1024, as a GradScaler would, so that float16 activation gradients do not underflow.
    """
    net.zero_grad()
    with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = net(lq)
    (torch.nn.functional.mse_loss(out.float(), gt) * 1024).backward()
    return torch.cat([p.grad.flatten() / 1024 for p in net.parameters()])


@pytest.mark.parametrize('precision', sorted(DTYPES))
def test_autocast_backward_is_finite_where_attention_exceeds_float16(precision):
    net, lq = network_with_large_attention_outputs(seed=1), image(48)
    assert torch.isfinite(loss_gradients(net, lq, lq.flip(-1), DTYPES[precision])).all()


@pytest.mark.parametrize('precision, tolerance', [('fp16', 0.03), ('bf16', 0.15)])
def test_autocast_gradients_are_close_to_float32(precision, tolerance):
    """Relative distance of all parameter gradients to float32's: about the dtype's rounding error (bf16 keeps 8
    significant bits, fp16 11). Logits here are tens, not thousands: with the [0, 255] scale's logits the
    query softmax is so peaked that float32 gradients themselves move by half their size when the input moves by
    1e-3, and no precision can be "close" there."""
    net, lq = network_with_large_attention_outputs(seed=1), image(24)
    with torch.no_grad():
        for block in net.modules():
            if isinstance(block, NonLocalBlock):
                for conv in (block.theta, block.phi):
                    conv.weight.mul_(0.1)
                    conv.bias.mul_(0.1)
    gt = lq.flip(-1)
    reference, low = loss_gradients(net, lq, gt, None), loss_gradients(net, lq, gt, DTYPES[precision])
    assert torch.isfinite(low).all()
    assert (low - reference).norm() <= tolerance * reference.norm()


def test_non_local_block_keeps_float32_results_and_the_input_dtype():
    torch.manual_seed(0)
    block = NonLocalBlock(8)
    torch.nn.init.normal_(block.W.weight, std=0.1)
    x = torch.randn(2, 8, 6, 5) * 50
    with torch.no_grad():
        expected = x + block.W(nonlocal_attention(*(conv(x).flatten(2).transpose(1, 2) for conv in
                                                    (block.theta, block.phi, block.g))).transpose(1, 2).reshape(
                                                        2, 4, 6, 5))
        assert torch.equal(block(x), expected)  # float32: the computation of the released block, bit for bit
        with torch.autocast('cpu', dtype=torch.float16):
            assert block(x.half()).dtype == torch.float16
        assert block.half()(x.half()).dtype == torch.float16  # half weights: computed in float32 all the same


@pytest.mark.parametrize('precision', sorted(DTYPES))
def test_custom_attention_backward_runs_in_float32_inside_autocast(precision):
    """The backward of the fused query-softmax attention, called inside an autocast region, equals float32's."""
    generator = torch.Generator().manual_seed(0)
    theta, phi = (torch.randn(2, 40, 6, generator=generator) * 3 for _ in range(2))
    g = torch.randn(2, 40, 6, generator=generator) * 100
    grad_out = torch.randn(2, 40, 6, generator=generator)

    def grads(autocast_dtype):
        inputs = [t.clone().requires_grad_() for t in (theta, phi, g)]
        with torch.autocast('cpu', dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            out = attention_sdpa(*inputs, softmax='query')
            out.backward(grad_out)  # the backward pass inside the autocast region
        return [t.grad for t in inputs]

    for name, expected, got in zip(('theta', 'phi', 'g'), grads(None), grads(DTYPES[precision])):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item(), msg=name)
