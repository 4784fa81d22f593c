"""The test-time forward: whole image or tiles with blended overlaps, with or without the x8 self-ensemble ("RNAN+"),
and how long a whole image takes (:class:`WholeImageClock`). The forwards take and return batches (B, C, H, W) in
[0, 1] and run the network as given: call them under ``torch.no_grad()``, the network in eval mode. What tiles cost
and change: docs/inference.md ("How long a whole image takes"), docs/evaluation.md.
"""
import contextlib
import functools
import itertools
import math
import threading
import time
import torch
from collections import namedtuple
from tqdm import tqdm

from rnan_basicsr.archs.rnan_arch import NonLocalBlock
from rnan_basicsr.options.schema import TileOptions
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import check_known_keys, is_int


def check_tile_size(size, overlap, size_name='tile.size', overlap_name='tile.overlap', example=''):
    """Raise an InputError (a ValueError) unless ``size >= 1`` and ``0 <= overlap < size`` are integers, naming them
    as the user spells them (``val.tile.size``...); ``example`` ends the message of a bad size."""
    if not is_int(size) or size < 1:
        raise InputError(f'{size_name} must be a positive integer (tile side in LQ pixels), got {size!r}{example}.')
    if not is_int(overlap) or not 0 <= overlap < size:
        raise InputError(f'{overlap_name} must be an integer in [0, {size_name}) = [0, {size}), got {overlap!r}.')


def check_tile(tile, what='val.tile'):
    """``(size, overlap)`` of a tile setting ``{size: int >= 1, overlap: int in [0, size)}`` (overlap 0), None for
    ``~`` (whole images); an InputError naming the key (``val.tile.size``...), the value and the fix."""
    if tile is None:
        return None
    if not isinstance(tile, dict):
        raise InputError(f'{what} must be ~ (whole images) or a mapping {{size: 128, overlap: 16}} in LQ pixels, got '
                         f'{tile!r}.')
    check_known_keys(tile, TileOptions.model_fields, what)
    size, overlap = tile.get('size'), TileOptions.model_construct(**tile).overlap
    check_tile_size(size, overlap, f'{what}.size', f'{what}.overlap',
                    '; e.g. tile: {size: 128, overlap: 16}, or tile: ~ for whole images')
    return size, overlap


def build_test_forward(tile=None, self_ensemble=False, scale=1, what='val.tile', progress=False):
    """``forward(net, lq)``, (B, C_in, H, W) -> (B, C_out, H * scale, W * scale): whole image (``tile=None``) or in
    tiles of ``tile`` ({size, overlap} in LQ pixels, checked by :func:`check_tile` as ``what``), self-ensembled or not,
    with progress bars (stderr) per tile and self-ensemble pass if ``progress``."""
    tiling = check_tile(tile, what)
    forward = _plain_forward
    if tiling is not None:
        forward = functools.partial(tile_forward, tile_size=tiling[0], tile_overlap=tiling[1], scale=scale,
                                    progress=progress)
    if self_ensemble:
        return functools.partial(self_ensemble_forward, forward=forward, progress=progress)
    return forward


def _tile_starts(length, tile, stride):
    """Start offsets of tiles of size ``tile`` covering ``[0, length)``; the last tile ends exactly at ``length``."""
    if tile >= length:
        return [0]
    return list(range(0, length - tile, stride)) + [length - tile]


def _ramp(length, overlap, like, ramp_start, ramp_end):
    """1-D blending weights of one tile, on ``like``'s device and dtype: a raised-cosine ramp over ``overlap`` pixels
    at each side that borders another tile (``ramp_start`` / ``ramp_end``), 1 elsewhere. The ramps are strictly
    positive, so every pixel keeps a positive total weight, and smooth, so blended tiles leave no seam."""
    weight = torch.ones(length, device=like.device, dtype=like.dtype)
    overlap = min(overlap, length)
    if overlap <= 0:
        return weight
    position = torch.arange(overlap, device=like.device, dtype=torch.float64)
    rise = (0.5 - 0.5 * torch.cos(math.pi * (position + 0.5) / overlap)).to(like.dtype)  # (0, 1), increasing
    if ramp_start:
        weight[:overlap] = torch.minimum(weight[:overlap], rise)
    if ramp_end:
        weight[-overlap:] = torch.minimum(weight[-overlap:], rise.flip(0))
    return weight


def tile_count(height, width, tile_size, tile_overlap):
    """How many tiles :func:`tile_forward` runs for an H x W image (1: the whole image at once)."""
    stride = tile_size - tile_overlap
    return (len(_tile_starts(height, min(tile_size, height), stride))
            * len(_tile_starts(width, min(tile_size, width), stride)))


def tile_forward(net, lq, tile_size, tile_overlap, scale=1, progress=False):
    """Run ``net`` on overlapping tiles of ``lq`` and blend the outputs into one image.

    Tiles are ``tile_size`` x ``tile_size`` LQ pixels, clipped to the image (one as large as the image is exactly
    ``net(lq)``), overlapping by at least ``tile_overlap`` (0 <= overlap < size), the last of each row and column at
    the border. Overlaps are blended with raised-cosine ramps, so there is no seam; tiles run one at a time.

    Args:
        net (callable): (B, C_in, h, w) in [0, 1] -> (B, C_out, h * scale, w * scale), e.g. an RNAN.
        lq (Tensor): (B, C_in, H, W) in [0, 1].
        scale (int): Output / input size ratio of ``net``.
        progress (bool): A progress bar over the tiles (stderr, removed when done).

    Returns:
        Tensor: (B, C_out, H * scale, W * scale) on ``lq``'s device, in the network's output range (about [0, 1]).
    """
    check_tile_size(tile_size, tile_overlap, 'tile_size', 'tile_overlap')
    if not is_int(scale) or scale < 1:
        raise ValueError(f'scale must be a positive integer, got {scale!r}')
    if lq.dim() != 4:
        raise ValueError(f'lq must be a (B, C, H, W) batch, got shape {tuple(lq.shape)}')
    _, _, height, width = lq.shape
    tile_h, tile_w = min(tile_size, height), min(tile_size, width)
    if tile_h == height and tile_w == width:
        return net(lq)

    stride = tile_size - tile_overlap
    starts_y, starts_x = _tile_starts(height, tile_h, stride), _tile_starts(width, tile_w, stride)
    expected = (tile_h * scale, tile_w * scale)
    output = weight_sum = None
    tiles = list(itertools.product(enumerate(starts_y), enumerate(starts_x)))
    for (iy, y), (ix, x) in tqdm(tiles, unit='tile', leave=False, disable=not progress):
        tile_out = net(lq[..., y:y + tile_h, x:x + tile_w])  # (B, C_out, tile_h * scale, tile_w * scale)
        if tuple(tile_out.shape[-2:]) != expected:
            raise ValueError(f'the network returned {tuple(tile_out.shape[-2:])} for a {tile_h}x{tile_w} tile; '
                             f'with scale={scale} it should return {expected}. Is scale right?')
        if output is None:
            output = tile_out.new_zeros(tile_out.shape[:2] + (height * scale, width * scale))
            weight_sum = tile_out.new_zeros((1, 1, height * scale, width * scale))
        weight_y = _ramp(tile_h * scale, tile_overlap * scale, tile_out, iy > 0, iy < len(starts_y) - 1)
        weight_x = _ramp(tile_w * scale, tile_overlap * scale, tile_out, ix > 0, ix < len(starts_x) - 1)
        weight = weight_y[:, None] * weight_x[None, :]  # (tile_h * scale, tile_w * scale)
        region = (Ellipsis, slice(y * scale, (y + tile_h) * scale), slice(x * scale, (x + tile_w) * scale))
        output[region] += tile_out * weight
        weight_sum[region] += weight
    return output / weight_sum


def _plain_forward(net, x):
    return net(x)


def self_ensemble_forward(net, lq, forward=None, progress=False):
    """The x8 self-ensemble ("RNAN+"): the mean of the outputs for the 8 flips and rotations of ``lq``, each
    transformed back; passes run one after another.

    Args:
        net (callable): (B, C_in, h, w) in [0, 1] -> (B, C_out, h * s, w * s).
        lq (Tensor): (B, C_in, H, W) in [0, 1]; rotated inputs are W x H.
        forward (callable, optional): ``forward(net, x)`` instead of ``net(x)``, e.g. a tiled forward.
        progress (bool): A progress bar over the 8 passes (stderr, removed when done).

    Returns:
        Tensor: (B, C_out, H * s, W * s).
    """
    if lq.dim() != 4:
        raise ValueError(f'lq must be a (B, C, H, W) batch, got shape {tuple(lq.shape)}')
    forward = forward or _plain_forward
    total = None
    passes = list(itertools.product((False, True), range(4)))  # (flip, quarter turns): the 8 elements of D4
    for flip, rotations in tqdm(passes, unit='pass', desc='self-ensemble', leave=False, disable=not progress):
        out = forward(net, torch.rot90(lq.flip(-1) if flip else lq, rotations, dims=(-2, -1)))
        out = torch.rot90(out, -rotations, dims=(-2, -1))
        if flip:
            out = out.flip(-1)
        total = out if total is None else total + out
    return total / 8


# how long a whole image takes: measured on the device once, announced, and a heartbeat while it runs
LONG_SECONDS = 30  # a whole image expected to take longer is announced, and a heartbeat line runs while it does
TILE_TARGET_SECONDS = 60  # the suggested tile size keeps the image under this where one of TILE_SIZES can
TILE_SIZES = (512, 384, 256, 192, 128, 96, 64)  # tried for the suggestion, largest (most context) first
ATTENTION_SIDES = (32, 64)  # the attention is timed on these squares; images up to the larger are not estimated
NETWORK_SIDES = (16, 48)  # the network is timed on crops of these sides

#: seconds per forward (fixed), per LQ pixel (convolutions) and per pair of positions (the attention, all non-local
#: blocks together)
Cost = namedtuple('Cost', ['per_forward', 'per_pixel', 'per_pair'])


def _seconds(module, x):
    start = time.perf_counter()
    module(x)
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start


def _line(x1, y1, x2, y2):
    """``(intercept, slope)`` of the line through two timings; when noise makes the slope not positive, the upper
    bound ``(0, y2 / x2)``."""
    slope = (y2 - y1) / (x2 - x1)
    if slope <= 0:
        return 0., max(y2, 0.) / x2
    return max(y1 - slope * x1, 0.), slope


def measure_cost(net, lq):
    """The :class:`Cost` of ``net`` (in eval mode) on ``lq``'s device, timed under the caller's no_grad / autocast.

    After a warm-up on a 16 x 16 crop, the first NonLocalBlock is timed on random features of the ATTENTION_SIDES
    squares (the quadratic term: exact attention costs the same per pair at any size), then the network on crops of
    NETWORK_SIDES of ``lq`` ((B, C_in, H, W) in [0, 1]), less their attention (the fixed and linear terms).
    """
    _seconds(net, lq[:1, :, :16, :16])
    blocks = [m for m in net.modules() if isinstance(m, NonLocalBlock)]
    per_pair = 0.

    def attention(side):  # (pairs of positions, seconds of the block on a side x side square)
        generator = torch.Generator(lq.device).manual_seed(0)  # the global random state is left as it was
        features = torch.randn(1, blocks[0].g.in_channels, side, side, device=lq.device, generator=generator)
        return side ** 4, _seconds(blocks[0], features)

    if blocks:
        per_pair = len(blocks) * _line(*attention(ATTENTION_SIDES[0]), *attention(ATTENTION_SIDES[1]))[1]

    def network(side):  # (pixels, seconds of the network on a side x side crop less its attention)
        crop = lq[:1, :, :side, :side]
        pixels = crop.shape[-2] * crop.shape[-1]
        return pixels, _seconds(net, crop) - per_pair * pixels ** 2

    return Cost(*_line(*network(NETWORK_SIDES[0]), *network(NETWORK_SIDES[1])), per_pair)


def estimate_seconds(cost, height, width, tile=None):
    """Expected seconds of one forward of an H x W image: whole (``tile=None``) or in ``(size, overlap)`` tiles."""
    if tile is not None and tile_count(height, width, *tile) > 1:
        return tile_count(height, width, *tile) * estimate_seconds(cost, min(tile[0], height), min(tile[0], width))
    pixels = height * width
    return cost.per_forward + cost.per_pixel * pixels + cost.per_pair * pixels ** 2


def suggest_tile(cost, height, width, overlap, seconds=TILE_TARGET_SECONDS):
    """``(size, expected seconds)``: the largest of TILE_SIZES whose tiles take at most ``seconds``, else the
    fastest of them; None when none is smaller than the image and larger than ``overlap``."""
    sizes = [size for size in TILE_SIZES if overlap < size < max(height, width)]
    if not sizes:
        return None
    times = {size: estimate_seconds(cost, height, width, (size, overlap)) for size in sizes}
    size = next((size for size in sizes if times[size] <= seconds), min(sizes, key=times.get))
    return size, times[size]


def format_seconds(seconds):
    """``'45 s'``, ``'13 min'`` or ``'2.5 h'``."""
    if seconds < 90:
        return f'{seconds:.0f} s'
    return f'{seconds / 60:.0f} min' if seconds < 90 * 60 else f'{seconds / 3600:.1f} h'


@contextlib.contextmanager
def heartbeat(desc, interval=1.):
    """While the block runs, a line on stderr with the time elapsed, refreshed every ``interval`` seconds."""
    bar = tqdm(desc=desc, bar_format='{desc}: {elapsed} elapsed', leave=False)
    done = threading.Event()

    def beat():
        while not done.wait(interval):
            bar.refresh()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.close()


class WholeImageClock:
    """Announces a whole image that will take long on this device, and shows it moving while it runs; the network is
    measured once (:func:`measure_cost`), at the first image larger than ``ATTENTION_SIDES[1]`` squared.

    Args:
        say (callable): Writes one line (a logger's ``info``, ``tqdm.write``...).
        tile_hint (callable): Tile size -> how the user asks for it, e.g. ``lambda size: f'--tile {size}'``.
        overlap (int): The tile overlap the suggestion assumes (LQ pixels).
        passes (int): Forwards per image (8 with the self-ensemble).
        interval (float): Seconds between heartbeats.
    """

    def __init__(self, say, tile_hint, overlap=16, passes=1, interval=1.):
        self.say, self.tile_hint, self.overlap = say, tile_hint, overlap
        self.passes, self.interval = passes, interval
        self.cost = None

    def watch(self, net, lq, name='image'):
        """The context to run ``net``'s whole-image forward of ``lq`` (B, C, H, W) in, under that forward's no_grad /
        autocast: over LONG_SECONDS expected, it announces the image (``name``) with a tile size, then a heartbeat."""
        height, width = lq.shape[-2:]
        if height * width <= ATTENTION_SIDES[1] ** 2:
            return contextlib.nullcontext()
        if self.cost is None:
            self.cost = measure_cost(net, lq)
        seconds = self.passes * estimate_seconds(self.cost, height, width)
        if seconds <= LONG_SECONDS:
            return contextlib.nullcontext()
        text = (f'{name}, {width}x{height} whole: expected about {format_seconds(seconds)} on {lq.device} (measured '
                'on this device: the attention\'s time grows with (H*W)^2, its memory linearly)')
        tile = suggest_tile(self.cost, height, width, self.overlap)
        if tile is not None:
            text += f'; {self.tile_hint(tile[0])} would take about {format_seconds(self.passes * tile[1])}'
        self.say(text + '.')
        return heartbeat(f'{width}x{height} whole, about {format_seconds(seconds)}', self.interval)
