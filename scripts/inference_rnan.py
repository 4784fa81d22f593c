"""Restore your own images with a trained or converted RNAN: a file or a folder in, a folder of PNGs out.

No ground truth is needed. The network (channels, features, groups, scale) is read off the checkpoint: this
package's ``{'params' | 'params_ema': ...}`` files (``params_ema`` preferred when present), bare state dicts, and
the authors' released checkpoints (converted on the fly by name, as ``scripts/convert_official_rnan.py`` does).

    python scripts/inference_rnan.py --task dn_rgb --model_path experiments/pretrained_models/RNAN_DN_RGB_N30.pth \
        --input my_photos --output results/my_photos_denoised

Tasks (``--task``):
  dn_rgb    colour denoising: 3-channel model; grey inputs are restored as 3 equal channels.
  dn_gray   grey denoising: 1-channel model; colour inputs are converted to grey first (OpenCV BT.601 weights).
  car       JPEG compression artifact reduction on Y (1-channel model). Colour inputs: Y (ITU-R BT.601, as Matlab's
            rgb2ycbcr) is restored and recombined with the image's own Cb/Cr; grey inputs are restored directly.
  demosaic  Bayer demosaicing, GRBG pattern (row 0: G R, row 1: B G), as the paper. The input is a raw mosaic:
            either a 1-channel image holding one colour sample per pixel, or a 3-channel image with zeros at the
            missing samples (the authors' test inputs). --make_mosaic instead samples a full RGB image on the
            GRBG pattern first, to demonstrate demosaicing on an ordinary photo.
  sr        super-resolution x2/x3/x4 (from the checkpoint; --scale, if given, must agree); grey inputs as 3 equal
            channels.

Outputs are ``<output>/<input name>[_<suffix>].png``, 8-bit (16-bit when the input is 16-bit). Whole images go
through the network at once (exact; memory grows linearly with the pixel count); ``--tile`` bounds memory at the
cost of a slightly different result. Errors in the input print one line and exit with status 2.
"""
import argparse
import cv2
import functools
import numpy as np
import sys
import torch
from collections import namedtuple
from os import path as osp
from tqdm import tqdm

import rnan_basicsr  # noqa: F401  (compatibility patches before basicsr)
from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.data.degradations import bayer_mosaic
from rnan_basicsr.utils.checkpoint import (describe_config, describe_keys, infer_rnan_config, is_state_dict,
                                           load_checkpoint)
from rnan_basicsr.utils.convert import convert_official_state_dict, infer_official_config
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import (check_readable, from_float, is_grey, list_images, read_image, to_float,
                                         write_image)
from rnan_basicsr.utils.inference import self_ensemble_forward, tile_forward
from rnan_basicsr.utils.script_util import run_main

PROG = 'inference_rnan.py'

Task = namedtuple('Task', ['channels', 'super_resolution', 'title'])
TASKS = {
    'dn_rgb': Task(3, False, 'colour denoising'),
    'dn_gray': Task(1, False, 'grey denoising'),
    'car': Task(1, False, 'JPEG artifact reduction (Y)'),
    'demosaic': Task(3, False, 'demosaicing (GRBG)'),
    'sr': Task(3, True, 'super-resolution'),
}


# ---------------------------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------------------------
def load_network(model_path, task, scale=None, nl_softmax='query'):
    """Build RNAN from the weights in ``model_path`` and check that it fits ``task`` (and ``scale``).

    Returns:
        tuple[RNAN, dict]: the network on the CPU in eval mode, and its configuration.

    Raises:
        InputError: unreadable file, a training state, no RNAN weights, or channels / scale that do not fit.
    """
    what = '--model_path'
    checkpoint = load_checkpoint(model_path, what)
    for key in ('params_ema', 'params'):
        if is_state_dict(checkpoint.get(key)):
            state_dict = checkpoint[key]
            break
    else:
        if not is_state_dict(checkpoint):
            raise InputError(f'{what} {model_path!r} holds no network weights: expected params / params_ema or a '
                             f'bare state dict, found {describe_keys(checkpoint)}.')
        state_dict = checkpoint
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()}
    if 'head.0.weight' in state_dict:  # the authors' layout
        config = infer_official_config(state_dict)
        state_dict = convert_official_state_dict(state_dict)
    else:
        config = infer_rnan_config(state_dict)
        if config is None:
            raise InputError(f'{what} {model_path!r} does not hold RNAN weights (no conv_first / conv_last / '
                             f'group_nl_low keys; first keys: {list(state_dict)[:3]}).')

    spec = TASKS[task]
    channels = (config['num_in_ch'], config['num_out_ch'])
    if channels != (spec.channels, spec.channels):
        fits = [name for name, other in sorted(TASKS.items()) if (other.channels, other.channels) == channels
                and other.super_resolution == (config['upscale'] > 1)]
        hint = f' It fits --task {" / ".join(fits)}.' if fits else ''
        raise InputError(f'{what} {model_path!r} is an RNAN with {describe_config(config)}, but --task {task} '
                         f'({spec.title}) needs {spec.channels} input and output channel(s).{hint}')
    if spec.super_resolution and config['upscale'] == 1:
        raise InputError(f'{what} {model_path!r} is a restoration model (upscale=1), not super-resolution; use '
                         '--task dn_rgb or demosaic with it.')
    if not spec.super_resolution and config['upscale'] > 1:
        raise InputError(f'{what} {model_path!r} is a x{config["upscale"]} super-resolution model; use --task sr.')
    if scale is not None and scale != config['upscale']:
        raise InputError(f'--scale {scale} does not match {what} {model_path!r}, a x{config["upscale"]} model; use '
                         f'--scale {config["upscale"]} or a x{scale} checkpoint.')
    net = RNAN(**config, nl_softmax=nl_softmax)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise InputError(f'{what} {model_path!r} does not load into RNAN({describe_config(config)}): '
                         f'{" ".join(str(error).split())[:300]}') from None
    return net.eval(), config


def make_forward(tile=None, tile_overlap=0, scale=1, self_ensemble=False):
    """``forward(net, lq)`` for (1, C, H, W) batches: whole image or tiled, with or without the x8 ensemble."""
    if tile:
        forward = functools.partial(tile_forward, tile_size=tile, tile_overlap=tile_overlap, scale=scale)
    else:
        def forward(net, lq):
            return net(lq)
    if self_ensemble:
        return functools.partial(self_ensemble_forward, forward=forward)
    return forward


# ---------------------------------------------------------------------------------------------------------------
# images in and out
# ---------------------------------------------------------------------------------------------------------------
def _demosaic_input(img, path, make_mosaic):
    """The network's GRBG mosaic (H, W, 3) RGB float32 in [0, 1] from a user's image (see the module docstring).

    The pattern is :func:`rnan_basicsr.data.degradations.bayer_mosaic`'s, the one the training data is made with.
    """
    if img.ndim == 2:
        if make_mosaic:
            raise InputError(f'--make_mosaic needs a colour image, but {path!r} is grey.')
        # one CFA sample per pixel: keep, in each pixel, the channel the pattern samples there
        mosaic = bayer_mosaic(np.repeat(img[..., None], 3, axis=2))
    else:
        mosaic = bayer_mosaic(img)
        if not make_mosaic:
            off_pattern = np.count_nonzero(img != mosaic)
            if off_pattern > 0.01 * 2 * img.shape[0] * img.shape[1]:  # 2 of the 3 samples per pixel are empty
                raise InputError(f'{path!r} is not a GRBG mosaic: {off_pattern / (2 * img.size / 3):.0%} of the '
                                 'samples the pattern leaves empty are non-zero. Give a raw mosaic (1 channel, or 3 '
                                 'channels with zeros at the missing samples), or pass --make_mosaic to sample this '
                                 'full RGB image on the GRBG pattern first.')
    return to_float(mosaic)[..., ::-1]


def restore_image(img, path, task, run, make_mosaic=False):
    """Restore one image read by :func:`read_image`.

    Args:
        img (ndarray): (H, W) or (H, W, 3) BGR, uint8 / uint16.
        path (str): Its file, for messages.
        task (str): A key of ``TASKS``.
        run (callable): (H, W, C) float32 RGB in [0, 1] -> (H', W', C) float32 RGB in about [0, 1].
        make_mosaic (bool): Demosaicing: mosaic a full RGB image first.

    Returns:
        ndarray: the restored image, (H', W') or (H', W', 3) BGR, same dtype as ``img``.
    """
    from basicsr.utils.color_util import bgr2ycbcr, ycbcr2bgr  # here: basicsr only after rnan_basicsr's patches

    dtype = img.dtype
    if task == 'car':
        if is_grey(img):  # a grey JPEG: its intensity is the Y that was compressed
            grey = img if img.ndim == 2 else img[..., 0]
            restored = from_float(run(to_float(grey)[..., None])[..., 0], dtype)
            return restored if img.ndim == 2 else np.repeat(restored[..., None], 3, axis=2)
        ycbcr = bgr2ycbcr(to_float(img), y_only=False)  # float32 in [0, 1], BT.601 (Matlab's rgb2ycbcr)
        ycbcr[..., 0] = run(np.ascontiguousarray(ycbcr[..., :1]))[..., 0]
        return from_float(ycbcr2bgr(ycbcr.astype(np.float32)), dtype)
    if task == 'dn_gray':
        # cvtColor: the conversion of degradations.to_gray (Matlab's rgb2gray weights), which also takes 16-bit
        grey = img if img.ndim == 2 else (img[..., 0] if is_grey(img) else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
        return from_float(run(to_float(grey)[..., None])[..., 0], dtype)
    if task == 'demosaic':
        rgb = _demosaic_input(img, path, make_mosaic)
    else:  # dn_rgb, sr: 3 channels
        bgr = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
        rgb = to_float(bgr)[..., ::-1]
    return from_float(run(np.ascontiguousarray(rgb))[..., ::-1], dtype)


def _runner(net, forward, device):
    """(H, W, C) float32 in [0, 1] -> network output (H', W', C) float32, through ``forward(net, lq)``."""

    def run(img):
        lq = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device)
        with torch.no_grad():
            out = forward(net, lq)
        return out[0].float().cpu().numpy().transpose(1, 2, 0)

    return run


def _resolve_device(name):
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f'--device {name!r} is not a device; use auto, cpu, cuda or cuda:N.') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise InputError(f'--device {name}: CUDA is not available on this machine; use --device cpu (or auto).')
    return device


def output_paths(inputs, output, suffix):
    """``<output>/<stem>[_<suffix>].png`` for each input; refuses name clashes and overwriting an input."""
    outputs, seen = [], {}
    input_set = {osp.abspath(p) for p in inputs}
    for path in inputs:
        stem = osp.splitext(osp.basename(path))[0]
        target = osp.join(output, f'{stem}_{suffix}.png' if suffix else f'{stem}.png')
        if target in seen:
            raise InputError(f'{seen[target]!r} and {path!r} would both be written to {target!r}; rename one.')
        if osp.abspath(target) in input_set:
            raise InputError(f'{target!r} would overwrite an input image; choose another --output or a --suffix.')
        seen[target] = path
        outputs.append(target)
    return outputs


# ---------------------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--task', required=True, choices=sorted(TASKS), help='what to restore (see above)')
    parser.add_argument('--model_path', required=True, help='RNAN weights (.pth: ours, or the authors\' .pt)')
    parser.add_argument('-i', '--input', required=True, help='an image file, or a folder of images')
    parser.add_argument('-o', '--output', default='results/inference_rnan', help='output folder (created)')
    parser.add_argument('--scale', type=int, default=None, help='sr: the expected scale (checked against the model)')
    parser.add_argument('--tile', type=int, default=0,
                        help='tile side in input pixels; 0 (default) restores whole images, which is exact')
    parser.add_argument('--tile_overlap', type=int, default=16, help='overlap of neighbouring tiles (default 16)')
    parser.add_argument('--self_ensemble', action='store_true', help='x8 flips/rotations averaged (RNAN+), 8x slower')
    parser.add_argument('--make_mosaic', action='store_true',
                        help='demosaic: sample full RGB inputs on the GRBG pattern first (demonstration)')
    parser.add_argument('--suffix', default='', help='appended to output names: <name>_<suffix>.png')
    parser.add_argument('--device', default='auto', help='auto (default: cuda if available), cpu, cuda or cuda:N')
    parser.add_argument('--nl_softmax', default='query', choices=['query', 'key'],
                        help='softmax of the non-local blocks the model was trained with (default query, as the '
                        'released checkpoints and network_g default)')
    return parser


def run(args):
    """Restore every input image; returns the written paths."""
    if args.tile < 0:
        raise InputError(f'--tile must be >= 0 (0: whole images), got {args.tile}.')
    if args.tile and not 0 <= args.tile_overlap < args.tile:
        raise InputError(f'--tile_overlap must be in [0, --tile) = [0, {args.tile}), got {args.tile_overlap}.')
    if args.scale is not None and args.task != 'sr':
        raise InputError(f'--scale applies to --task sr only; --task {args.task} keeps the image size.')
    if args.make_mosaic and args.task != 'demosaic':
        raise InputError('--make_mosaic applies to --task demosaic only.')
    device = _resolve_device(args.device)
    inputs = list_images(args.input, '--input')
    outputs = output_paths(inputs, args.output, args.suffix)
    check_readable(inputs)
    net, config = load_network(args.model_path, args.task, args.scale, args.nl_softmax)
    net = net.to(device)
    forward = make_forward(args.tile, args.tile_overlap, config['upscale'], args.self_ensemble)
    run_net = _runner(net, forward, device)
    mode = ('tiles of %d px (overlap %d)' % (args.tile, args.tile_overlap)) if args.tile else 'whole images'
    print(f'{PROG}: {TASKS[args.task].title} with RNAN({describe_config(config)}) on {device}, {mode}'
          f'{", x8 self-ensemble" if args.self_ensemble else ""}: {len(inputs)} image(s) -> {args.output}',
          flush=True)
    for path, target in tqdm(list(zip(inputs, outputs)), unit='image', disable=len(inputs) < 2):
        restored = restore_image(read_image(path), path, args.task, run_net, args.make_mosaic)
        write_image(target, restored)
    return outputs


def main(argv=None):
    return run_main(PROG, run, build_parser().parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
