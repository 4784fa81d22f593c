"""The authors' forward_chop geometry (rnan_basicsr/chop.py): pieces, recursion, assembly, and sizes their code
cannot handle."""
import pytest
import torch
import torch.nn.functional as F

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.chop import AUTHORS_MIN_SIZE, authors_min_size, chop_forward, piece_size


class Recorder:
    """A pixel-wise 'network' (x -> nearest upsampling of 2x - 0.3) that records the sizes it is called with."""

    def __init__(self, scale=1):
        self.scale, self.shapes = scale, []

    def __call__(self, x):
        self.shapes.append(tuple(x.shape[-2:]))
        out = 2 * x - 0.3
        return F.interpolate(out, scale_factor=self.scale, mode='nearest') if self.scale > 1 else out


def test_piece_sizes_are_the_authors_adaptive_shave():
    # (h // 2 // 4) * 4 + 12, written out for a few sides
    assert [piece_size(n) for n in (20, 21, 24, 32, 100, 140, 256, 481)] == [20, 20, 24, 28, 60, 80, 140, 252]
    assert piece_size(16) == 16  # the authors' code would take 20 > 16 rows here (and fail)
    assert AUTHORS_MIN_SIZE == {'restoration': 10000, 'sr': 30000}
    assert authors_min_size(1) == 10000 and authors_min_size(4) == 30000


@pytest.mark.parametrize('height,width,min_size,calls,side', [
    (100, 100, 10000, 4, (60, 60)),  # 60 * 60 < 10000: four corner pieces go through the network
    (256, 256, 10000, 16, (80, 80)),  # 140 * 140 >= 10000: each piece is chopped again into 80 x 80
    (481, 321, 10000, 64, (80, 60)),  # BSD68's 481 x 321: 252 x 172, 136 x 96, then 80 x 60
])
def test_pieces_and_recursion(height, width, min_size, calls, side):
    net = Recorder()
    x = torch.rand(1, 3, height, width)
    out = chop_forward(net, x, min_size=min_size)
    assert len(net.shapes) == calls and set(net.shapes) == {side}
    assert torch.equal(out, net(x))  # a pixel-wise network gives exactly the whole-image result


@pytest.mark.parametrize('height,width', [(32, 32), (31, 27), (16, 40), (7, 5), (1, 1)])
@pytest.mark.parametrize('scale', [1, 2, 3])
def test_any_size_and_scale_assembles_the_output(height, width, scale):
    net = Recorder(scale)
    x = torch.rand(2, 1, height, width)
    assert torch.equal(chop_forward(net, x, scale=scale, min_size=10), F.interpolate(2 * x - 0.3, scale_factor=scale,
                                                                                     mode='nearest'))


def test_rnan_chopped_differs_from_whole_but_only_a_little_and_matches_the_quadrants():
    torch.manual_seed(0)
    net = RNAN(num_in_ch=1, num_out_ch=1, num_feat=8, num_group=2).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        whole, chopped = net(x), chop_forward(net, x)
        pieces = [net(x[..., :28, :28]), net(x[..., :28, 4:]), net(x[..., 4:, :28]), net(x[..., 4:, 4:])]
    assert chopped.shape == whole.shape and not torch.equal(chopped, whole)
    # quadrant assembly: top-left from the top-left piece, bottom-right from the bottom-right one...
    assert torch.equal(chopped[..., :16, :16], pieces[0][..., :16, :16])
    assert torch.equal(chopped[..., :16, 16:], pieces[1][..., :16, 12:])
    assert torch.equal(chopped[..., 16:, :16], pieces[2][..., 12:, :16])
    assert torch.equal(chopped[..., 16:, 16:], pieces[3][..., 12:, 12:])


def test_a_piece_as_large_as_its_input_is_not_chopped_forever():
    net = Recorder()
    out = chop_forward(net, torch.rand(1, 1, 24, 24), min_size=1)  # 24 -> pieces of 24: the authors' code loops
    assert net.shapes == [(24, 24)] * 4 and out.shape == (1, 1, 24, 24)


def test_bad_arguments():
    with pytest.raises(ValueError, match='batch'):
        chop_forward(Recorder(), torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match='scale'):
        chop_forward(Recorder(), torch.rand(1, 3, 8, 8), scale=0)
    with pytest.raises(ValueError, match='should return'):
        chop_forward(Recorder(2), torch.rand(1, 3, 30, 30), scale=1)
