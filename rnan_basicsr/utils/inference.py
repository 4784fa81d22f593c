"""Test-time forward passes: tiled inference with blended overlaps, and the x8 self-ensemble ("RNAN+").

Used by :class:`rnan_basicsr.models.rnan_model.RNANModel` (validation and ``basicsr test``),
``scripts/inference_rnan.py`` and the benchmarks. Both functions take and return batches ``(B, C, H, W)`` in
[0, 1] and run the network as given: call them under ``torch.no_grad()`` with the network in eval mode.

Whole-image inference is exact and needs memory linear in H*W with RNAN's attention, so tiling is only a way to
bound memory further; it changes the result (the non-local blocks then see one tile at a time, and the
convolutions near tile borders see zero padding instead of the neighbouring pixels).
"""
import math
import torch


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
    if not isinstance(tile_size, int) or isinstance(tile_size, bool) or tile_size < 1:
        raise ValueError(f'tile_size must be a positive integer, got {tile_size!r}')
    if not isinstance(tile_overlap, int) or isinstance(tile_overlap, bool) or not 0 <= tile_overlap < tile_size:
        raise ValueError(f'tile_overlap must be an integer in [0, tile_size) = [0, {tile_size}), got {tile_overlap!r}')
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
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
