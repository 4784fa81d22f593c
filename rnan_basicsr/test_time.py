"""The test-time forward: whole image or tiles with blended overlaps, with or without the x8 self-ensemble ("RNAN+").

:func:`build_test_forward` composes it from the ``val`` options (``tile``, ``self_ensemble``) and the scale, for
:class:`rnan_basicsr.models.rnan_model.RNANModel` (validation and ``basicsr test``), the inference tool and the
benchmarks; :func:`check_tile` is the one check of a tile setting. The forwards take and return batches
``(B, C, H, W)`` in [0, 1] and run the network as given: call them under ``torch.no_grad()`` with the network in
eval mode.

Whole-image inference is exact and needs memory linear in H*W with RNAN's attention, so tiling is only a way to
bound memory further; it changes the result (the non-local blocks then see one tile at a time, and the
convolutions near tile borders see zero padding instead of the neighbouring pixels).
"""
import functools
import math
import torch

from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import did_you_mean, is_int

TILE_KEYS = ('size', 'overlap')


def check_tile_size(size, overlap, size_name='tile.size', overlap_name='tile.overlap', example=''):
    """Raise an InputError (a ValueError) unless ``size >= 1`` and ``0 <= overlap < size`` are integers.

    ``size_name`` / ``overlap_name`` are how the caller's user spells them (``val.tile.size``, ``--tile``...);
    ``example`` ends the message of a bad size.
    """
    if not is_int(size) or size < 1:
        raise InputError(f'{size_name} must be a positive integer (tile side in LQ pixels), got {size!r}{example}.')
    if not is_int(overlap) or not 0 <= overlap < size:
        raise InputError(f'{overlap_name} must be an integer in [0, {size_name}) = [0, {size}), got {overlap!r}.')


def check_tile(tile, what='val.tile'):
    """Check a tile setting: ``~`` (whole images) or ``{size: int >= 1, overlap: int in [0, size)}`` (overlap 0).

    Returns:
        tuple[int, int] | None: ``(size, overlap)``, or None for whole images.

    Raises:
        InputError: naming the key (``val.tile.size``...), the value and the fix.
    """
    if tile is None:
        return None
    if not isinstance(tile, dict):
        raise InputError(f'{what} must be ~ (whole images) or a mapping {{size: 128, overlap: 16}} in LQ pixels, got '
                         f'{tile!r}.')
    for key in tile:
        if key not in TILE_KEYS:
            raise InputError(f'{what} has an unknown key {key!r}.{did_you_mean(key, TILE_KEYS)} Allowed: size, '
                             'overlap.')
    size, overlap = tile.get('size'), tile.get('overlap', 0)
    check_tile_size(size, overlap, f'{what}.size', f'{what}.overlap',
                    '; e.g. tile: {size: 128, overlap: 16}, or tile: ~ for whole images')
    return size, overlap


def build_test_forward(tile=None, self_ensemble=False, scale=1, what='val.tile'):
    """``forward(net, lq)``: whole image (``tile=None``) or tiled, self-ensembled or not.

    Args:
        tile (dict | None): ``{size, overlap}`` in LQ pixels, checked by :func:`check_tile` (``what`` names it).
        self_ensemble (bool): Average the 8 flips / rotations (:func:`self_ensemble_forward`).
        scale (int): Output / input size ratio of the network.

    Returns:
        callable: ``forward(net, lq)``, (B, C_in, H, W) -> (B, C_out, H * scale, W * scale).
    """
    tiling = check_tile(tile, what)
    forward = _plain_forward
    if tiling is not None:
        forward = functools.partial(tile_forward, tile_size=tiling[0], tile_overlap=tiling[1], scale=scale)
    if self_ensemble:
        return functools.partial(self_ensemble_forward, forward=forward)
    return forward


def _tile_starts(length, tile, stride):
    """Start offsets of tiles of size ``tile`` covering ``[0, length)``; the last tile ends exactly at ``length``."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length, overlap, device, dtype, ramp_start, ramp_end):
    """1-D blending weights of one tile: a raised-cosine ramp over ``overlap`` pixels at each side that borders
    another tile (``ramp_start`` / ``ramp_end``), 1 elsewhere. The ramps are strictly positive, so every pixel
    keeps a positive total weight, and smooth, so blended tiles leave no seam."""
    weight = torch.ones(length, device=device, dtype=dtype)
    overlap = min(overlap, length)
    if overlap <= 0:
        return weight
    position = torch.arange(overlap, device=device, dtype=torch.float64)
    rise = (0.5 - 0.5 * torch.cos(math.pi * (position + 0.5) / overlap)).to(dtype)  # (0, 1), increasing
    if ramp_start:
        weight[:overlap] = torch.minimum(weight[:overlap], rise)
    if ramp_end:
        weight[-overlap:] = torch.minimum(weight[-overlap:], rise.flip(0))
    return weight


def tile_forward(net, lq, tile_size, tile_overlap, scale=1):
    """Run ``net`` on overlapping tiles of ``lq`` and blend the outputs into one image.

    Tiles are ``tile_size`` x ``tile_size`` LQ pixels (clipped to the image: a tile as large as the image is one
    whole-image forward, identical to ``net(lq)``); neighbouring tiles overlap by at least ``tile_overlap`` pixels
    and the last tile of each row and column is aligned with the image border, so every tile has the same size
    and any H x W works. In the overlaps the outputs are averaged with weights that ramp smoothly (raised cosine)
    from the tile's edge to its inside, so there is no visible seam. Tiles run one at a time: peak memory is that
    of one tile's forward pass plus the output image.

    Args:
        net (callable): Maps (B, C_in, h, w) in [0, 1] to (B, C_out, h * scale, w * scale), e.g. an RNAN module.
        lq (Tensor): Input batch (B, C_in, H, W) in [0, 1].
        tile_size (int): Tile side in LQ pixels (>= 1).
        tile_overlap (int): Minimum overlap of neighbouring tiles in LQ pixels (0 <= tile_overlap < tile_size).
        scale (int): Output / input size ratio of ``net`` (1 for restoration, the SR factor otherwise).

    Returns:
        Tensor: (B, C_out, H * scale, W * scale), on ``lq``'s device, in the network's output range (about [0, 1]).
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
    output = weight_sum = None
    for iy, y in enumerate(starts_y):
        for ix, x in enumerate(starts_x):
            tile_out = net(lq[..., y:y + tile_h, x:x + tile_w])  # (B, C_out, tile_h * scale, tile_w * scale)
            expected = (tile_h * scale, tile_w * scale)
            if tuple(tile_out.shape[-2:]) != expected:
                raise ValueError(f'the network returned {tuple(tile_out.shape[-2:])} for a {tile_h}x{tile_w} tile; '
                                 f'with scale={scale} it should return {expected}. Is scale right?')
            if output is None:
                out_shape = (tile_out.shape[0], tile_out.shape[1], height * scale, width * scale)
                output = tile_out.new_zeros(out_shape)
                weight_sum = tile_out.new_zeros((1, 1, height * scale, width * scale))
            weight_y = _ramp(tile_h * scale, tile_overlap * scale, tile_out.device, tile_out.dtype, iy > 0,
                             iy < len(starts_y) - 1)
            weight_x = _ramp(tile_w * scale, tile_overlap * scale, tile_out.device, tile_out.dtype, ix > 0,
                             ix < len(starts_x) - 1)
            weight = weight_y[:, None] * weight_x[None, :]  # (tile_h * scale, tile_w * scale)
            region = (Ellipsis, slice(y * scale, (y + tile_h) * scale), slice(x * scale, (x + tile_w) * scale))
            output[region] += tile_out * weight
            weight_sum[region] += weight
    return output / weight_sum


def _plain_forward(net, x):
    return net(x)


def self_ensemble_forward(net, lq, forward=None):
    """The x8 geometric self-ensemble ("RNAN+" in the paper): average the outputs for the 8 flips and rotations.

    The input is transformed by each element of the dihedral group D4 (rotations by 0/90/180/270 degrees, with and
    without a horizontal flip), passed through the network, the output transformed back by the inverse, and the
    8 results averaged. For a network that commutes with flips and rotations the result equals the plain output.
    Non-square images work: rotated inputs are W x H. The 8 passes run one after another; memory is that of one
    pass plus the running sum.

    Args:
        net (callable): The network, (B, C_in, h, w) in [0, 1] -> (B, C_out, h * s, w * s).
        lq (Tensor): Input batch (B, C_in, H, W) in [0, 1].
        forward (callable, optional): ``forward(net, x)`` used instead of ``net(x)`` for each transformed input,
            e.g. ``functools.partial(tile_forward, tile_size=128, tile_overlap=16)`` for a tiled self-ensemble.

    Returns:
        Tensor: (B, C_out, H * s, W * s), the mean of the 8 back-transformed outputs.
    """
    if lq.dim() != 4:
        raise ValueError(f'lq must be a (B, C, H, W) batch, got shape {tuple(lq.shape)}')
    forward = forward or _plain_forward
    total = None
    for flip in (False, True):
        flipped = lq.flip(-1) if flip else lq
        for rotations in range(4):
            out = forward(net, torch.rot90(flipped, rotations, dims=(-2, -1)))
            out = torch.rot90(out, -rotations, dims=(-2, -1))
            if flip:
                out = out.flip(-1)
            total = out if total is None else total + out
    return total / 8
