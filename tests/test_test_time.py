"""Tiled inference and the x8 self-ensemble (rnan_basicsr.test_time)."""
import functools
import pytest
import time
import torch
import torch.nn.functional as F
from torch import nn

from rnan_basicsr import test_time
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


# ------------------------------------------------------------------------------------------------------------------
# progress and the expected time of a whole image
# ------------------------------------------------------------------------------------------------------------------
def test_tiles_and_self_ensemble_passes_show_progress_on_stderr(capsys):
    x = torch.rand(1, 3, 20, 18)
    tile_forward(nn.Identity(), x, 12, 4, progress=True)  # 2 x 2 tiles
    assert '0/4 [00:00<?, ?tile/s]' in capsys.readouterr().err
    build_test_forward({'size': 12, 'overlap': 4}, self_ensemble=True, progress=True)(nn.Identity(), x)
    err = capsys.readouterr().err
    assert 'self-ensemble:   0%|          | 0/8' in err and err.count('0/4 [00:00<?, ?tile/s]') == 8
    build_test_forward({'size': 12, 'overlap': 4}, self_ensemble=True)(nn.Identity(), x)
    assert capsys.readouterr().err == ''  # no bars unless asked


class _FakeClock:
    def __init__(self):
        self.now = 0.

    def perf_counter(self):
        return self.now


class _TimedBlock(test_time.NonLocalBlock):
    """A non-local block that only advances a fake clock: 0.01 s + 1e-9 s per pair of positions."""

    def __init__(self, clock):
        super().__init__(num_feat=4)
        self.clock = clock

    def forward(self, x):
        self.clock.now += 0.01 + 1e-9 * (x.shape[-2] * x.shape[-1]) ** 2
        return x


class _TimedNet(nn.Module):
    """0.05 s + 1e-5 s per pixel, plus its two non-local blocks."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.blocks = clock, nn.ModuleList([_TimedBlock(clock), _TimedBlock(clock)])

    def forward(self, x):
        self.clock.now += 0.05 + 1e-5 * x.shape[-2] * x.shape[-1]
        for block in self.blocks:
            block(x[:, :1].expand(-1, 4, -1, -1))
        return x


def test_the_measured_cost_separates_fixed_linear_and_quadratic_time(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(test_time, 'time', clock)
    cost = test_time.measure_cost(_TimedNet(clock), torch.rand(1, 3, 100, 90))
    assert cost == pytest.approx(test_time.Cost(0.05 + 2 * 0.01, 1e-5, 2e-9), rel=1e-6)
    # an input narrower than the crops: timed on what there is
    cost = test_time.measure_cost(_TimedNet(clock), torch.rand(1, 3, 8, 1000))
    assert cost == pytest.approx(test_time.Cost(0.07, 1e-5, 2e-9), rel=1e-6)


COST = test_time.Cost(0.05, 2e-5, 1e-8)  # seconds per forward, per pixel, per pair of positions


def test_estimates_whole_and_tiled_and_the_suggested_tile():
    cost = COST
    pixels = 512 * 512
    assert test_time.estimate_seconds(cost, 512, 512) == pytest.approx(0.05 + 2e-5 * pixels + 1e-8 * pixels ** 2)
    # 96-pixel tiles overlapping by 16: starts 0, 80, ..., 400 and 416 in each direction
    assert test_time.tile_count(512, 512, 96, 16) == 49
    per_tile = 0.05 + 2e-5 * 96 ** 2 + 1e-8 * 96 ** 4
    assert test_time.estimate_seconds(cost, 512, 512, (96, 16)) == pytest.approx(49 * per_tile)
    assert test_time.estimate_seconds(cost, 100, 80, (128, 16)) == test_time.estimate_seconds(cost, 100, 80)
    # the largest size within the target: 128-pixel tiles would take longer
    size, seconds = test_time.suggest_tile(cost, 512, 512, 16)
    assert (size, seconds) == (96, pytest.approx(49 * per_tile))
    assert seconds <= test_time.TILE_TARGET_SECONDS < test_time.estimate_seconds(cost, 512, 512, (128, 16))
    assert test_time.suggest_tile(cost, 512, 512, 300)[0] == 384  # the only size larger than the overlap
    # no tile size reaches the target: the fastest one, with its time
    size, seconds = test_time.suggest_tile(cost, 4000, 3000, 16)
    assert seconds > test_time.TILE_TARGET_SECONDS
    assert seconds == min(test_time.estimate_seconds(cost, 4000, 3000, (s, 16)) for s in test_time.TILE_SIZES)
    assert test_time.suggest_tile(cost, 60, 60, 16) is None  # no tile size smaller than the image
    assert [test_time.format_seconds(s) for s in (44.6, 794, 5 * 3600)] == ['45 s', '13 min', '5.0 h']


def test_a_long_whole_image_is_announced_with_a_tile_and_shows_a_heartbeat(monkeypatch, capsys):
    said, measured = [], []
    monkeypatch.setattr(test_time, 'measure_cost', lambda net, lq: measured.append(lq.shape) or COST)
    clock = test_time.WholeImageClock(said.append, lambda size: f'--tile {size}', interval=0.01)
    with clock.watch(nn.Identity(), torch.zeros(1, 3, 64, 64)):  # not larger than the timed attention: nothing
        pass
    assert measured == [] and said == []
    with clock.watch(nn.Identity(), torch.zeros(1, 3, 512, 512), 'photo.png'):
        time.sleep(0.2)
    with clock.watch(nn.Identity(), torch.zeros(1, 3, 100, 100)):  # about 1 s expected: nothing
        pass
    assert len(measured) == 1  # measured once
    assert said == ['photo.png, 512x512 whole: expected about 12 min on cpu (measured on this device: the '
                    "attention's time grows with (H*W)^2, its memory linearly); --tile 96 would take about 53 s."]
    err = capsys.readouterr().err
    assert err.count('512x512 whole, about 12 min: 00:00 elapsed') >= 3  # refreshed while it ran
    eight = test_time.WholeImageClock(said.append, lambda size: f'--tile {size}', passes=8)
    eight.cost = clock.cost
    with eight.watch(nn.Identity(), torch.zeros(1, 3, 512, 512)):
        pass
    assert 'expected about 1.5 h' in said[-1] and '--tile 96 would take about 7 min' in said[-1]


def test_measuring_leaves_the_global_random_state_alone():
    net, lq = RNAN(3, 3, num_feat=4, num_group=2).eval(), torch.rand(1, 3, 72, 72)
    state = torch.get_rng_state()
    with torch.no_grad():
        cost = test_time.measure_cost(net, lq)
    assert torch.equal(torch.get_rng_state(), state)
    assert cost.per_pair > 0 and min(cost) >= 0
