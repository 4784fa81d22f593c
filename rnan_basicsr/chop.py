"""The authors' test-time chopping (``forward_chop``), reproduced to measure what it costs against whole images.

The released test scripts of RNAN (``Test_RNAN_*scripts.sh``: ``python main.py ... --test_only --chop``) restore every
test image in pieces, because their non-local blocks need memory quadratic in the pixel count. The published numbers
were made this way. This module reproduces that geometry exactly so that the same weights can be scored both ways
(``scripts/reproduce_paper.py --also_chopped``); for ordinary use, whole-image inference is exact and RNAN's
attention here needs memory linear in H*W.

Source: github.com/yulunzhang/RNAN, ``SR/code/model/__init__.py`` and ``DN_RGB/code/model/__init__.py``,
``Model.forward_chop(self, x, shave=10, min_size=...)`` (read at commit 751567c). What it does, for an input of
H x W (LQ pixels):

* split into four overlapping corner pieces of ``h_size x w_size`` with the "adaptive shave"
  ``h_size = (H // 2 // 4) * 4 + 12`` (``shave_scale = 4``, the stride of the mask branch's down/up-sampling, and
  ``shave_size_max = 12``), the same along W; the ``shave`` argument (10) is not used for the geometry;
* if ``h_size * w_size < min_size`` the four pieces go through the network, otherwise each piece is chopped again
  the same way (recursively);
* the output is assembled without blending: each quadrant of the output (split at ``H // 2`` and ``W // 2``, times
  the scale) is copied from the piece that covers it, i.e. from the corner piece whose far border lies beyond it.

``min_size`` is 10000 in DN_RGB's copy of the code and 30000 in SR's (:data:`AUTHORS_MIN_SIZE`); the DN_Gray, CAR and
Demosaic copies of ``model/__init__.py`` were not available to check, and DN_RGB's value is used for them.

Two cases the authors' code cannot handle are defined here instead of failing: an input side under 20 pixels
(``h_size`` would exceed the side; the piece is then the whole side, so that side is not split), and a piece that
would be chopped into pieces of its own size (the authors' recursion would never end; the piece then goes through the
network whole). Neither happens for the paper's test images with the authors' ``min_size``.
"""
SHAVE_SCALE = 4
SHAVE_SIZE_MAX = 12
#: ``min_size`` of the authors' ``forward_chop`` (pixels of a piece, LQ): restoration tasks and super-resolution
AUTHORS_MIN_SIZE = {'restoration': 10000, 'sr': 30000}


def authors_min_size(scale):
    """The authors' ``min_size`` for a network of output/input ratio ``scale`` (1: restoration, else SR)."""
    return AUTHORS_MIN_SIZE['sr' if scale > 1 else 'restoration']


def piece_size(length):
    """The authors' adaptive piece side for an input side ``length``: ``(length // 2 // 4) * 4 + 12``, at most
    ``length``."""
    return min(length, (length // 2 // SHAVE_SCALE) * SHAVE_SCALE + SHAVE_SIZE_MAX)


def chop_forward(net, lq, scale=1, min_size=None):
    """Restore ``lq`` the way the authors' test code did (``forward_chop``, see the module docstring).

    Args:
        net (callable): Maps (B, C_in, h, w) in [0, 1] to (B, C_out, h * scale, w * scale), e.g. an RNAN module in
            eval mode (call under ``torch.no_grad()``).
        lq (Tensor): Input batch (B, C_in, H, W).
        scale (int): Output / input size ratio of ``net``.
        min_size (int, optional): A piece with fewer pixels than this goes through the network; larger pieces are
            chopped again. Default: the authors' value for ``scale`` (:func:`authors_min_size`).

    Returns:
        Tensor: (B, C_out, H * scale, W * scale).
    """
    if lq.dim() != 4:
        raise ValueError(f'lq must be a (B, C, H, W) batch, got shape {tuple(lq.shape)}')
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f'scale must be a positive integer, got {scale!r}')
    if min_size is None:
        min_size = authors_min_size(scale)
    _, _, height, width = lq.shape
    h_half, w_half = height // 2, width // 2
    h_size, w_size = piece_size(height), piece_size(width)
    pieces = [
        lq[..., 0:h_size, 0:w_size],
        lq[..., 0:h_size, (width - w_size):width],
        lq[..., (height - h_size):height, 0:w_size],
        lq[..., (height - h_size):height, (width - w_size):width],
    ]
    outputs = [net(piece) if h_size * w_size < min_size or tuple(piece.shape[-2:]) == (height, width) else
               chop_forward(net, piece, scale, min_size) for piece in pieces]

    height, width, h_half, w_half, h_size, w_size = (scale * v for v in (height, width, h_half, w_half, h_size,
                                                                         w_size))
    for out in outputs:
        if tuple(out.shape[-2:]) != (h_size, w_size):
            raise ValueError(f'the network returned {tuple(out.shape[-2:])} for a {h_size // scale}x'
                             f'{w_size // scale} piece; with scale={scale} it should return {(h_size, w_size)}.')
    first = outputs[0]
    output = first.new_empty((first.shape[0], first.shape[1], height, width))
    output[..., 0:h_half, 0:w_half] = outputs[0][..., 0:h_half, 0:w_half]
    output[..., 0:h_half, w_half:width] = outputs[1][..., 0:h_half, (w_size - width + w_half):w_size]
    output[..., h_half:height, 0:w_half] = outputs[2][..., (h_size - height + h_half):h_size, 0:w_half]
    output[..., h_half:height, w_half:width] = outputs[3][..., (h_size - height + h_half):h_size,
                                                          (w_size - width + w_half):w_size]
    return output


__all__ = ['AUTHORS_MIN_SIZE', 'authors_min_size', 'chop_forward', 'piece_size']
