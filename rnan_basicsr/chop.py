"""The authors' test-time chopping (``forward_chop``), reproduced to measure what it costs against whole images
(``scripts/reproduce_paper.py --also_chopped``; docs/paper.md, "Whole images against the authors' chop").

Source: github.com/yulunzhang/RNAN, ``SR/code/model/__init__.py`` and ``DN_RGB/code/model/__init__.py``,
``Model.forward_chop(self, x, shave=10, min_size=...)`` (commit 751567c): four overlapping corner pieces of
:func:`piece_size` (the ``shave`` argument is unused), each chopped again while it has ``min_size`` pixels or more,
output quadrants (split at ``H // 2``, ``W // 2``, times the scale) copied from the piece that covers them, no
blending. Two cases their code cannot handle are defined here instead of failing: a side under 20 pixels is not
split, and a piece that would be chopped into pieces of its own size goes through the network whole.
"""
SHAVE_SCALE = 4
SHAVE_SIZE_MAX = 12
#: ``min_size`` (LQ pixels of a piece) of DN_RGB's and SR's copies of the code; DN_RGB's stands for DN_Gray, CAR and
#: Demosaic, whose copies were not available to check
AUTHORS_MIN_SIZE = {'restoration': 10000, 'sr': 30000}


def authors_min_size(scale):
    """The authors' ``min_size`` for a network of output/input ratio ``scale`` (1: restoration, else SR)."""
    return AUTHORS_MIN_SIZE['sr' if scale > 1 else 'restoration']


def piece_size(length):
    """The authors' adaptive piece side for an input side ``length``: ``(length // 2 // 4) * 4 + 12`` (4: the stride of
    the mask branch's down/up-sampling, 12: their ``shave_size_max``), at most ``length``."""
    return min(length, (length // 2 // SHAVE_SCALE) * SHAVE_SCALE + SHAVE_SIZE_MAX)


def chop_forward(net, lq, scale=1, min_size=None):
    """Restore ``lq`` (B, C_in, H, W) the way the authors' test code did; returns (B, C_out, H * scale, W * scale).

    ``net`` maps (B, C_in, h, w) in [0, 1] to (B, C_out, h * scale, w * scale) (e.g. an RNAN in eval mode, called
    under ``torch.no_grad()``); a piece with fewer than ``min_size`` pixels goes through it, larger ones are chopped
    again (default: :func:`authors_min_size` of ``scale``).
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
