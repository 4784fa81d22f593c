"""Restore your own images with a trained or converted RNAN: a file or a folder in, a folder of PNGs out.

    python scripts/inference_rnan.py --task dn_rgb --model_path experiments/pretrained_models/RNAN_DN_RGB_sigma30.pth \
        --input my_photos --output results/my_photos_denoised --tile 128   # photo sizes on a CPU: see below

Tasks (``--task``, the keys of rnan_basicsr/tasks.py):
  dn_rgb    colour denoising: 3-channel model. A grey input is restored as 3 equal channels and comes out grey
            (the 3 output channels averaged).
  dn_gray   grey denoising: 1-channel model; colour inputs are converted to grey first (OpenCV BT.601 weights).
  car       JPEG compression artifact reduction on Y (1-channel model). Colour inputs: Y (ITU-R BT.601, as Matlab's
            rgb2ycbcr) is restored and recombined with the image's own Cb/Cr; grey inputs are restored directly.
  demosaic  Bayer demosaicing, GRBG pattern (row 0: G R, row 1: B G), as the paper. The input is a raw mosaic:
            either a 1-channel image holding one colour sample per pixel, or a 3-channel image with zeros at the
            missing samples (the authors' test inputs). --make_mosaic instead samples a full RGB image on the
            GRBG pattern first, to demonstrate demosaicing on an ordinary photo.
  sr        super-resolution x2/x3/x4 (from the checkpoint; --scale, if given, must agree); grey inputs as for
            dn_rgb.

The network is read off the checkpoint (this package's files, bare state dicts, the authors' released ones). Outputs
are ``<output>/<input name>[_<suffix>].png`` in the input's layout (bit depth, grey, alpha); every input is checked
before the first is written. Whole images are exact, but their time grows with (H*W)^2: on a CPU, photo sizes need
``--tile``, and before a whole image expected to take over 30 s one line gives the expected time and the --tile that
would bound it. Checkpoints, errors and timings: docs/inference.md.
"""
import argparse
import contextlib
import cv2
import numpy as np
import os
import time
import torch
from os import path as osp
from tqdm import tqdm

import rnan_basicsr  # noqa: F401  (makes basicsr importable and registers RNAN)
from rnan_basicsr import precision
from rnan_basicsr.data.degradations import bayer_mosaic
from rnan_basicsr.tasks import TASKS
from rnan_basicsr.test_time import WholeImageClock, build_test_forward, format_seconds
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import (check_readable, from_float, is_grey, list_images, read_image, to_float,
                                         write_image)
from rnan_basicsr.utils.script_util import run_main
from rnan_basicsr.weights import describe_config, describe_softmax, full_settings, load_rnan, save_safetensors

PROG = 'inference_rnan.py'


# images in and out
def _demosaic_input(img, path, make_mosaic):
    """The network's GRBG mosaic (H, W, 3) RGB float32 in [0, 1] from a user's image (see the module docstring), on
    the pattern of :func:`rnan_basicsr.data.degradations.bayer_mosaic`, which makes the training data."""
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


def _grey_like(grey, img):
    """A grey (H, W) result in the layout of the input ``img``: (H, W), or 3 equal channels for a 3-channel one."""
    return grey if img.ndim == 2 else np.repeat(grey[..., None], 3, axis=2)


def _with_alpha(restored, alpha):
    """Put ``alpha`` back on a restored image, resized with Matlab's bicubic when the network changed the size."""
    if alpha is None:
        return restored
    if alpha.shape != restored.shape[:2]:
        from basicsr.utils.matlab_functions import imresize  # here: basicsr only after rnan_basicsr's patches
        alpha = from_float(imresize(to_float(alpha), restored.shape[0] // alpha.shape[0]), alpha.dtype)
    colour = restored if restored.ndim == 3 else np.repeat(restored[..., None], 3, axis=2)
    return np.dstack([colour, alpha])


def prepare_image(img, path, task, make_mosaic=False):
    """Check one image (``path``'s, as :func:`read_image` with ``keep_alpha=True`` gives it: (H, W), (H, W, 3) BGR or
    (H, W, 4) BGRA, uint8 / uint16) against ``task`` and make the network's input; an InputError if it does not fit.

    Returns:
        tuple: ``(net_input, finish, note)``: the network's input (H, W, C) float32 RGB (or grey / Y) in [0, 1];
        ``finish(output)`` turning the network's output (H', W', C) float32 into the image to write (same dtype and
        layout as ``img``: grey stays grey, alpha carried over); ``note``: None, or words for the run's summary
        about what was done to this image that the user may not expect.
    """
    from basicsr.utils.color_util import bgr2ycbcr, ycbcr2bgr  # here: basicsr only after rnan_basicsr's patches

    dtype = img.dtype
    colour, alpha = img, None
    if img.ndim == 3 and img.shape[2] == 4:
        colour, alpha = np.ascontiguousarray(img[..., :3]), np.ascontiguousarray(img[..., 3])
    grey = is_grey(colour)
    grey_2d = colour if colour.ndim == 2 else colour[..., 0]
    if task == 'car':
        if grey:  # a grey JPEG: its intensity is the Y that was compressed
            return (to_float(grey_2d)[..., None],
                    lambda out: _with_alpha(_grey_like(from_float(out[..., 0], dtype), colour), alpha), None)
        ycbcr = bgr2ycbcr(to_float(colour), y_only=False)  # float32 in [0, 1], BT.601 (Matlab's rgb2ycbcr)

        def finish_car(out):
            restored = ycbcr.copy()
            restored[..., 0] = out[..., 0]
            return _with_alpha(from_float(ycbcr2bgr(restored.astype(np.float32)), dtype), alpha)

        return np.ascontiguousarray(ycbcr[..., :1]), finish_car, None
    if task == 'dn_gray':
        # cvtColor: the conversion of degradations.to_gray (Matlab's rgb2gray weights), which also takes 16-bit
        converted = grey_2d if grey else cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
        note = None if grey else 'colour, converted to grey first (--task dn_gray restores grey images)'
        return (to_float(converted)[..., None],
                lambda out: _with_alpha(from_float(out[..., 0], dtype), alpha), note)
    if task == 'demosaic':  # the input is a mosaic, not an image: a 1-channel one is colour once demosaiced
        return (_demosaic_input(colour, path, make_mosaic),
                lambda out: _with_alpha(from_float(out[..., ::-1], dtype), alpha), None)
    # dn_rgb, sr: 3 channels
    bgr = colour if colour.ndim == 3 else np.repeat(colour[..., None], 3, axis=2)
    rgb = np.ascontiguousarray(to_float(bgr)[..., ::-1])
    if grey:  # a colour network may tint a grey image slightly: its 3 outputs are averaged, so grey stays grey
        return (rgb, lambda out: _with_alpha(_grey_like(from_float(out.mean(axis=2), dtype), colour), alpha),
                'grey, restored as 3 equal channels whose outputs are averaged (a colour model may tint it)')
    return rgb, lambda out: _with_alpha(from_float(out[..., ::-1], dtype), alpha), None


def _runner(net, forward, device, precision_name='fp32', clock=None):
    """(H, W, C) float32 in [0, 1] -> network output (H', W', C) float32, through ``forward(net, lq)`` under the
    autocast of ``precision_name`` (fp32: none), watched by ``clock`` (a WholeImageClock, for whole images)."""

    def run(img, name='image'):
        lq = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device)
        with torch.no_grad(), precision.autocast(device, precision_name):
            with clock.watch(net, lq, name) if clock is not None else contextlib.nullcontext():
                out = forward(net, lq)
        return out[0].float().cpu().numpy().transpose(1, 2, 0)

    return run


def check_output_folder_creatable(output):
    """Refuse an ``--output`` that is, or lies under, an existing file. An existing folder is fine: the restored
    images are added to it (unlike ``script_util.check_new_output_folder``'s folders, built whole)."""
    if osp.isfile(output):
        raise InputError(f'--output {output!r} is an existing file, but --output names the folder the restored '
                         f'images are written to (as <name>.png); give a folder, e.g. --output '
                         f'{osp.dirname(output) or "."}.')
    parent = osp.dirname(osp.abspath(output))
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise InputError(f'--output {output!r} cannot be created: {parent!r} is a file, not a folder.')


def output_paths(inputs, output, suffix):
    """``<output>/<stem>[_<suffix>].png`` for each input; refuses name clashes and overwriting an input."""
    check_output_folder_creatable(output)
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


def check_inputs(inputs, task, make_mosaic):
    """Read every input and check it against the task before anything is written; returns ``{note: [names]}``
    (the notes of :func:`prepare_image`)."""
    check_readable(inputs)
    notes = {}
    for path in inputs:
        _, _, note = prepare_image(read_image(path, keep_alpha=True), path, task, make_mosaic)
        if note:
            notes.setdefault(note, []).append(osp.basename(path))
    return notes


# command line
def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--task', required=True, choices=sorted(TASKS), help='what to restore (see above)')
    parser.add_argument('--model_path', required=True,
                        help='RNAN weights (.pth or .safetensors: ours; or the authors\' .pt)')
    parser.add_argument('-i', '--input', required=True, help='an image file, or a folder of images')
    parser.add_argument('-o', '--output', default='results/inference_rnan', help='output folder (created)')
    parser.add_argument('--scale', type=int, default=None, help='sr: the expected scale (checked against the model)')
    parser.add_argument('--tile', type=int, default=0,
                        help='tile side in input pixels, e.g. 128 for photos on a CPU; 0 (default) restores whole '
                        'images: exact, but time grows with (H*W)^2')
    parser.add_argument('--tile_overlap', type=int, default=16, help='overlap of neighbouring tiles (default 16)')
    parser.add_argument('--self_ensemble', action='store_true', help='x8 flips/rotations averaged (RNAN+), 8x slower')
    parser.add_argument('--make_mosaic', action='store_true',
                        help='demosaic: sample full RGB inputs on the GRBG pattern first (demonstration)')
    parser.add_argument('--suffix', default='', help='appended to output names: <name>_<suffix>.png')
    parser.add_argument('--device', default='auto', help='auto (default: cuda if available), cpu, cuda or cuda:N')
    parser.add_argument('--precision', default='fp32', choices=sorted(precision.PRECISIONS),
                        help='fp32 (default), or bf16 / fp16 autocast (the non-local blocks stay float32); checked '
                        'against the device before anything runs')
    parser.add_argument('--tf32', action='store_true',
                        help='allow TF32 for float32 convolutions and matmuls (Ampere+ GPUs; default: off, exact)')
    parser.add_argument('--save_safetensors', metavar='FILE',
                        help='also write the loaded network as one self-describing .safetensors file (its network_g '
                        'settings in the metadata), e.g. to hand an authors\' checkpoint to other tools')
    parser.add_argument('--nl_softmax', default=None, choices=['query', 'key'],
                        help='softmax of the non-local blocks the model was trained with, for files that do not save '
                        'it (default: the file\'s saved network_g setting, else query, as the released checkpoints '
                        'and network_g\'s default); refused when it contradicts the file')
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
    if args.save_safetensors is not None:
        if not args.save_safetensors.endswith('.safetensors'):
            raise InputError(f'--save_safetensors {args.save_safetensors!r} must end in .safetensors.')
        if osp.exists(args.save_safetensors):
            raise InputError(f'--save_safetensors {args.save_safetensors!r} exists; remove it or choose another name.')
    device = precision.check_device(args.device)
    precision.check_precision(device, args.precision, '--precision')
    inputs = list_images(args.input, '--input')
    outputs = output_paths(inputs, args.output, args.suffix)
    sources = {}
    net, config = load_rnan(args.model_path, '--model_path', args.task, args.scale, sources, nl_softmax=args.nl_softmax)
    notes = check_inputs(inputs, args.task, args.make_mosaic)
    if args.save_safetensors is not None:
        save_safetensors(net.state_dict(), args.save_safetensors, dict(config, type='RNAN', **full_settings(config)))
        print(f'{PROG}: wrote {args.save_safetensors} (RNAN({describe_config(config)}))', flush=True)
    net = net.to(device)
    tile = {'size': args.tile, 'overlap': args.tile_overlap} if args.tile else None
    forward = build_test_forward(tile, args.self_ensemble, config['upscale'], what='--tile', progress=True)
    clock = None if args.tile else WholeImageClock(lambda text: tqdm.write(f'{PROG}: {text}'),
                                                   lambda size: f'--tile {size}', args.tile_overlap,
                                                   8 if args.self_ensemble else 1)
    run_net = _runner(net, forward, device, args.precision, clock)
    mode = ('tiles of %d px (overlap %d)' % (args.tile, args.tile_overlap)) if args.tile else 'whole images'
    print(f'{PROG}: {TASKS[args.task].title} with RNAN({describe_config(config)}, '
          f'{describe_softmax(config, sources["nl_softmax"])}) on {device}, {mode}'
          f'{", x8 self-ensemble" if args.self_ensemble else ""}, {precision.PRECISION_NAMES[args.precision]}, '
          f'{precision.describe_tf32(device, args.tf32, "--tf32")}: {len(inputs)} image(s) -> {args.output}',
          flush=True)
    os.makedirs(args.output, exist_ok=True)
    start = time.monotonic()
    with precision.tf32(args.tf32):
        for path, target in tqdm(list(zip(inputs, outputs)), unit='image', disable=len(inputs) < 2):
            net_input, finish, _ = prepare_image(read_image(path, keep_alpha=True), path, args.task, args.make_mosaic)
            write_image(target, finish(run_net(net_input, osp.basename(path))))
    for note, names in notes.items():
        shown = ', '.join(names[:5]) + (f' and {len(names) - 5} more' if len(names) > 5 else '')
        print(f'{PROG}: note: {len(names)} image(s) {note}: {shown}', flush=True)
    print(f'{PROG}: wrote {len(outputs)} image(s) to {args.output} in {format_seconds(time.monotonic() - start)}.',
          flush=True)
    return outputs


def main(argv=None):
    return run_main(PROG, run, build_parser().parse_args(argv))
