"""Tiled inference and the x8 self-ensemble (rnan_basicsr.test_time)."""
import functools
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.test_time import build_test_forward, self_ensemble_forward, tile_forward
from rnan_basicsr.utils.errors import InputError


def _symmetric_kernel(generator, channels_out, channels_in):
    """A 3x3 kernel invariant under flips and 90-degree rotations (averaged over the 8 elements of D4)."""
    kernel = torch.randn(channels_out, channels_in, 3, 3, generator=generator)
    views = [torch.rot90(k, r, dims=(-2, -1)) for k in (kernel, kernel.flip(-1)) for r in range(4)]
    return torch.stack(views).mean(0)


class ToyNet(nn.Module):
    """conv3x3 -> ReLU -> conv3x3 (+ nearest upsampling): equivariant to flips and rotations iff the kernels are."""

    def __init__(self, symmetric, scale=1, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        make = functools.partial(_symmetric_kernel, generator) if symmetric else (
            lambda o, i: torch.randn(o, i, 3, 3, generator=generator))
        self.w1, self.w2 = nn.Parameter(make(8, 3) * 0.3), nn.Parameter(make(3, 8) * 0.3)
        self.scale = scale

    def forward(self, x):
        out = F.conv2d(F.relu(F.conv2d(x, self.w1, padding=1)), self.w2, padding=1) + x
        return F.interpolate(out, scale_factor=self.scale, mode='nearest') if self.scale > 1 else out


@pytest.mark.parametrize('scale', [1, 2])
def test_self_ensemble_equals_plain_output_for_an_equivariant_network(scale):
    net, x = ToyNet(symmetric=True, scale=scale), torch.rand(2, 3, 13, 10)
    with torch.no_grad():
        plain, ensemble = net(x), self_ensemble_forward(net, x)
    assert ensemble.shape == (2, 3, 13 * scale, 10 * scale)
    torch.testing.assert_close(ensemble, plain, rtol=0, atol=1e-5)


def test_self_ensemble_averages_the_eight_transforms_of_a_non_equivariant_network():
    net, x = ToyNet(symmetric=False), torch.rand(1, 3, 12, 9)
    with torch.no_grad():
        plain, ensemble = net(x), self_ensemble_forward(net, x)
        # the same average, written out: transform, run, transform back
        expected = torch.zeros_like(plain)
        for flip in (False, True):
            for k in range(4):
                x_t = torch.rot90(x.flip(-1) if flip else x, k, dims=(2, 3))
                y = torch.rot90(net(x_t), -k, dims=(2, 3))
                expected += (y.flip(-1) if flip else y) / 8
    assert (ensemble - plain).abs().max() > 1e-2
    torch.testing.assert_close(ensemble, expected, rtol=0, atol=1e-6)


def test_self_ensemble_uses_the_given_forward():
    calls = []

    def forward(net, x):
        calls.append(tuple(x.shape))
        return net(x)

    self_ensemble_forward(nn.Identity(), torch.rand(1, 1, 5, 7), forward=forward)
    assert sorted(calls) == sorted([(1, 1, 5, 7), (1, 1, 7, 5)] * 4)


@pytest.mark.parametrize('scale', [1, 2, 3])
@pytest.mark.parametrize('size,overlap', [(8, 0), (8, 3), (5, 4), (16, 6)])
def test_tiles_of_a_pixelwise_network_reassemble_the_image_exactly(scale, size, overlap):
    """Every pixel is covered, the blending weights are normalised, SR tiles land at scaled positions."""

    def net(x):
        return F.interpolate(x * 2 - 0.3, scale_factor=scale, mode='nearest') if scale > 1 else x * 2 - 0.3

    x = torch.rand(2, 3, 23, 17)
    out = tile_forward(net, x, size, overlap, scale)
    torch.testing.assert_close(out, net(x), rtol=0, atol=1e-6)


def test_a_tile_as_large_as_the_image_is_exactly_the_whole_image_output():
    torch.manual_seed(0)
    for upscale in (1, 2):
        net = RNAN(3, 3, num_feat=8, num_group=2, upscale=upscale).eval()
        x = torch.rand(1, 3, 19, 14)
        with torch.no_grad():
            whole = net(x)
            assert torch.equal(tile_forward(net, x, 19, 4, upscale), whole)
            assert torch.equal(tile_forward(net, x, 64, 16, upscale), whole)


def test_blended_tiles_leave_no_seam():
    """A network whose output depends on the whole tile (its mean): hard tile borders make steps, blending not."""

    def net(x):
        return x * 0 + x.mean(dim=(-2, -1), keepdim=True)

    x = torch.linspace(0, 1, 48).view(1, 1, 1, 48).expand(1, 1, 40, 48).contiguous()
    hard, blended = tile_forward(net, x, 16, 0), tile_forward(net, x, 16, 8)
    step_hard = (hard[..., 1:] - hard[..., :-1]).abs().max()
    step_blended = (blended[..., 1:] - blended[..., :-1]).abs().max()
    assert step_hard > 0.3
    assert step_blended < 0.4 * step_hard


def test_smaller_tiles_stay_close_to_the_whole_image_for_tiny_rnan():
    torch.manual_seed(1)
    net = RNAN(3, 3, num_feat=8, num_group=2, upscale=2).eval()
    for module in net.modules():  # make the non-local blocks matter (their W starts at zero)
        if isinstance(module, nn.Conv2d) and module.out_channels == 8 and module.kernel_size == (1, 1):
            nn.init.normal_(module.weight, std=0.05)
    x = F.interpolate(torch.rand(1, 3, 6, 6), size=(30, 26), mode='bilinear', align_corners=False)
    with torch.no_grad():
        whole = net(x)
        tiled = tile_forward(net, x, 16, 6, scale=2)
    assert tiled.shape == whole.shape == (1, 3, 60, 52)
    difference = (tiled - whole).abs()
    assert 0 < difference.mean() < 0.01 and difference.max() < 0.1


@pytest.mark.parametrize('kwargs,message', [
    (dict(tile_size=0, tile_overlap=0), 'tile_size'),
    (dict(tile_size=8, tile_overlap=8), 'tile_overlap'),
    (dict(tile_size=8, tile_overlap=-1), 'tile_overlap'),
    (dict(tile_size=8, tile_overlap=2, scale=0), 'scale'),
])
def test_tile_forward_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tile_forward(nn.Identity(), torch.rand(1, 3, 20, 20), **kwargs)


def test_tile_forward_explains_a_wrong_scale():
    with pytest.raises(ValueError, match='Is scale right'):
        tile_forward(nn.Identity(), torch.rand(1, 3, 20, 20), 8, 2, scale=2)


def test_build_test_forward_composes_whole_tiled_and_self_ensembled_forwards():
    net, x = ToyNet(symmetric=False, scale=2), torch.rand(1, 3, 20, 18)
    tiled = functools.partial(tile_forward, tile_size=8, tile_overlap=2, scale=2)
    with torch.no_grad():
        assert torch.equal(build_test_forward()(net, x), net(x))
        assert torch.equal(build_test_forward({'size': 8, 'overlap': 2}, scale=2)(net, x), tiled(net, x))
        assert torch.equal(build_test_forward({'size': 8, 'overlap': 2}, self_ensemble=True, scale=2)(net, x),
                           self_ensemble_forward(net, x, forward=tiled))
    with pytest.raises(InputError, match=r'--tile.overlap must be an integer in \[0, --tile.size\) = \[0, 8\)'):
        build_test_forward({'size': 8, 'overlap': 8}, what='--tile')
