"""RNAN: Residual Non-local Attention Networks for Image Restoration (Zhang et al., ICLR 2019), as released at
https://github.com/yulunzhang/RNAN (``model/rnan.py``, ``model/common.py``): the same outputs from the same (converted)
weights, plus any input size and exact attention in linear memory. See docs/architecture.md.
"""
import torch
from basicsr.archs.arch_util import ResidualBlockNoBN, Upsample
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn as nn

from .nonlocal_attention import (IMPLEMENTATIONS, SOFTMAX_MODES, attention_dtype, autocast_disabled, float16_autocast,
                                 nonlocal_attention)


def _residual_block(num_feat):
    """The paper's residual block (RB), conv3x3 -> ReLU -> conv3x3 + identity, with PyTorch's default init (EDSR's)."""
    return ResidualBlockNoBN(num_feat=num_feat, res_scale=1, pytorch_init=True)


class NonLocalBlock(nn.Module):
    """Non-local block (NLB), embedded Gaussian (paper Sec. 3.2, Eq. 1-2): z = x + W(y), y the attention of the 1x1
    convolutions theta, phi, g (``num_feat // 2`` channels). W starts at zero, as released: a new block is the identity
    (RNAN issue #5). ``softmax`` and ``impl``: see :func:`~rnan_basicsr.archs.nonlocal_attention.nonlocal_attention`.
    """

    def __init__(self, num_feat=64, softmax='query', impl='auto'):
        super().__init__()
        self.inter_channels = num_feat // 2
        self.softmax = softmax
        self.impl = impl
        self.g = nn.Conv2d(num_feat, self.inter_channels, 1)
        self.theta = nn.Conv2d(num_feat, self.inter_channels, 1)
        self.phi = nn.Conv2d(num_feat, self.inter_channels, 1)
        self.W = nn.Conv2d(self.inter_channels, num_feat, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)

    def forward(self, x):
        """x: (B, C, H, W) -> (B, C, H, W), in the dtype of x.

        The whole block runs in float32 (float64 for float64 x), also under autocast and for a half-precision x: on
        the [0, 255] scale the query softmax's y overflows float16 (65504) on natural images. Only x + W(y) is cast
        back to x's dtype.
        """
        b, _, h, w = x.shape
        dtype = attention_dtype(x.dtype)
        with autocast_disabled(x.device.type):
            x_full = x.to(dtype)

            def positions(conv):  # (B, C', H, W) -> (B, N, C'), N = H*W in row-major order
                return _conv_in(conv, x_full).flatten(2).transpose(1, 2)

            y = nonlocal_attention(positions(self.theta), positions(self.phi), positions(self.g), self.softmax,
                                   self.impl)
            y = y.transpose(1, 2).reshape(b, self.inter_channels, h, w)  # (B, N, C') -> (B, C', H, W)
            return (x_full + _conv_in(self.W, y)).to(x.dtype)


def _conv_in(conv, x):
    """``conv(x)`` computed in x's dtype (the weights cast to it when they differ, e.g. float16 weights)."""
    if conv.weight.dtype == x.dtype:
        return conv(x)
    bias = conv.bias.to(x.dtype) if conv.bias is not None else None
    return conv._conv_forward(x, conv.weight.to(x.dtype), bias)


class TrunkBranch(nn.Module):
    """Trunk branch of an attention block (paper Sec. 3.2): ``t`` = 2 residual blocks."""

    def __init__(self, num_feat=64):
        super().__init__()
        self.body = nn.Sequential(_residual_block(num_feat), _residual_block(num_feat))

    def forward(self, x):
        return self.body(x)


class MaskBranch(nn.Module):
    """(Non-)local mask branch (paper Sec. 3.2, Fig. 2): per-pixel, per-channel attention weights in (0, 1).

    [NLB if ``non_local``] -> RB -> conv3x3 stride 2 -> 2 RBs -> transposed conv (k6, s2, p2) -> + RB output -> RB ->
    conv1x1 -> sigmoid. For an odd H (W) the transposed convolution's extra last row (column) is cropped: it is then
    evaluated at the positions that exist, and even sizes are unchanged.
    """

    def __init__(self, num_feat=64, non_local=False, nl_softmax='query', nl_impl='auto'):
        super().__init__()
        self.non_local = NonLocalBlock(num_feat, nl_softmax, nl_impl) if non_local else None
        self.pre_block = _residual_block(num_feat)
        self.down = nn.Conv2d(num_feat, num_feat, 3, stride=2, padding=1)
        self.low_blocks = nn.Sequential(_residual_block(num_feat), _residual_block(num_feat))
        self.up = nn.ConvTranspose2d(num_feat, num_feat, 6, stride=2, padding=2)
        self.post_block = _residual_block(num_feat)
        self.conv1x1 = nn.Conv2d(num_feat, num_feat, 1)

    def forward(self, x):
        """x: (B, C, H, W) -> mask (B, C, H, W) in (0, 1).

        With a non-local block under float16 autocast the whole branch runs in float32: the block's output x + W(y)
        can pass float16's 65504 (1.1e5 on a trained quickstart model), and the convolutions after it would see inf.
        """
        if self.non_local is None:
            return self._mask(x)
        if float16_autocast(x.device.type):
            with autocast_disabled(x.device.type):
                return self._mask(self.non_local(x.float())).to(x.dtype)
        return self._mask(self.non_local(x))

    def _mask(self, x):
        skip = self.pre_block(x)
        up = self.up(self.low_blocks(self.down(skip)))  # (B, C, 2*ceil(H/2), 2*ceil(W/2))
        up = up[..., :skip.shape[-2], :skip.shape[-1]]
        return torch.sigmoid(self.conv1x1(self.post_block(skip + up)))


class ResidualAttentionBlock(nn.Module):
    """Residual local (RAB) or, with ``non_local``, non-local (RNAB) attention block (paper Sec. 3.2, Eq. 3-4):
    RB -> trunk(x) * mask(x) + x -> 2 RBs."""

    def __init__(self, num_feat=64, non_local=False, nl_softmax='query', nl_impl='auto'):
        super().__init__()
        self.pre_block = _residual_block(num_feat)
        self.trunk = TrunkBranch(num_feat)
        self.mask = MaskBranch(num_feat, non_local, nl_softmax, nl_impl)
        self.post_blocks = nn.Sequential(_residual_block(num_feat), _residual_block(num_feat))

    def forward(self, x):
        """x: (B, C, H, W) -> (B, C, H, W)."""
        x = self.pre_block(x)
        return self.post_blocks(self.trunk(x) * self.mask(x) + x)


class ResidualAttentionGroup(nn.Module):
    """One group of the body: an attention block, then a conv3x3; no skip around it, as released."""

    def __init__(self, num_feat=64, non_local=False, nl_softmax='query', nl_impl='auto'):
        super().__init__()
        self.block = ResidualAttentionBlock(num_feat, non_local, nl_softmax, nl_impl)
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x):
        return self.conv(self.block(x))


@ARCH_REGISTRY.register()
class RNAN(nn.Module):
    """Residual Non-local Attention Network (RNAN), as released by the authors for every task of the paper.

    conv3x3 head -> non-local group -> ``num_group - 2`` local groups -> conv3x3 -> non-local group (the closing body
    convolution before it, as released) -> tail: for ``upscale=1`` a conv3x3 added to the input; for SR, the mean
    subtracted first, a long skip from the head, pixel shuffle, conv3x3, mean added back. Inputs and outputs are in
    [0, 1]; inside, the data is scaled by ``img_range`` (the released weights were trained on [0, 255]).

    Args:
        num_in_ch (int): Input channels (1 grey / Y, 3 colour or Bayer mosaic). Default: 3.
        num_out_ch (int): Output channels. Default: 3.
        num_feat (int): Feature channels (even; the non-local embeddings have ``num_feat // 2``). Default: 64.
        num_group (int): Groups in the body, the two non-local ones included (>= 2). Default: 10.
        upscale (int): 1 for restoration, or the super-resolution factor (2^n or 3). Default: 1.
        img_range (float): Scale of the data inside the network. Default: 255.
        rgb_mean (sequence[float]): Mean subtracted before SR (in [0, 1], one value per channel). Default: DIV2K's
            (0.4488, 0.4371, 0.4040). Not used when ``upscale=1``.
        nl_softmax (str): ``'query'`` (released code and checkpoints) or ``'key'`` (paper's formula). See
            :class:`NonLocalBlock`. Default: 'query'.
        nl_impl (str): How attention is computed, all exact: ``'auto'`` (fused SDPA kernels when available, else
            chunked), ``'sdpa'``, ``'chunked'``, ``'direct'`` (the authors' N x N form). Default: 'auto'.
    """

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, upscale=1, img_range=255.,
                 rgb_mean=(0.4488, 0.4371, 0.4040), nl_softmax='query', nl_impl='auto'):
        super().__init__()
        if num_in_ch < 1 or num_out_ch < 1:
            raise ValueError(f'num_in_ch and num_out_ch must be >= 1, got {num_in_ch} and {num_out_ch}')
        if num_feat < 2 or num_feat % 2:
            raise ValueError(f'num_feat must be an even number >= 2 (the non-local block uses num_feat // 2 '
                             f'channels), got {num_feat}')
        if num_group < 2:
            raise ValueError(f'num_group must be >= 2 (two non-local groups plus num_group - 2 local ones), '
                             f'got {num_group}')
        if not isinstance(upscale, int) or upscale < 1 or (upscale != 3 and upscale & (upscale - 1)):
            raise ValueError(f'upscale must be 1 (restoration) or a super-resolution factor 2^n or 3, got {upscale!r}')
        if upscale == 1 and num_in_ch != num_out_ch:
            raise ValueError(f'with upscale=1 the output is input + residual, so num_in_ch ({num_in_ch}) must equal '
                             f'num_out_ch ({num_out_ch})')
        if upscale > 1 and not (len(rgb_mean) == num_in_ch == num_out_ch):
            raise ValueError(f'super-resolution subtracts and adds back rgb_mean, so it needs one value per channel: '
                             f'num_in_ch={num_in_ch}, num_out_ch={num_out_ch}, rgb_mean has {len(rgb_mean)} values')
        if img_range <= 0:
            raise ValueError(f'img_range must be > 0, got {img_range}')
        if nl_softmax not in SOFTMAX_MODES:
            raise ValueError(f"nl_softmax must be 'query' (released code) or 'key' (paper), got {nl_softmax!r}")
        if nl_impl not in IMPLEMENTATIONS:
            raise ValueError(f'nl_impl must be one of {IMPLEMENTATIONS}, got {nl_impl!r}')
        self.upscale = upscale
        self.img_range = img_range

        def group(non_local):
            return ResidualAttentionGroup(num_feat, non_local, nl_softmax, nl_impl)

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.group_nl_low = group(non_local=True)
        self.body = nn.Sequential(*[group(non_local=False) for _ in range(num_group - 2)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.group_nl_high = group(non_local=True)
        if upscale == 1:
            self.upsample = None
        else:
            self.upsample = Upsample(upscale, num_feat)
            # mean of the training data on the network's scale; a buffer, not a parameter, and not in checkpoints
            mean = torch.tensor(rgb_mean, dtype=torch.float32) * img_range
            self.register_buffer('mean', mean.view(1, -1, 1, 1), persistent=False)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x):
        """x: (B, num_in_ch, H, W) in [0, 1], any H, W >= 1 -> (B, num_out_ch, H*upscale, W*upscale), about [0, 1]."""
        x = x * self.img_range
        if self.upsample is not None:
            x = x - self.mean
        feat = self.conv_first(x)
        res = self.group_nl_low(feat)
        res = self.body(res)
        res = self.conv_after_body(res)
        res = self.group_nl_high(res)
        if self.upsample is None:
            out = x + self.conv_last(res)
        else:
            out = self.conv_last(self.upsample(res + feat)) + self.mean
        return out / self.img_range
