"""Make the degraded inputs (and matching ground truth) of the RNAN paper's test protocol from clean images.

    python scripts/data_preparation/generate_lq.py --task denoise --sigma 50 --input datasets/CBSD68 \
        --output datasets/CBSD68_N50
    python scripts/data_preparation/generate_lq.py --task denoise --sigma 50 --gray --input datasets/Kodak24 \
        --output datasets/Kodak24_gray_N50 --gt-output datasets/Kodak24_gray
    python scripts/data_preparation/generate_lq.py --task jpeg --quality 10 --input datasets/LIVE1 \
        --output datasets/LIVE1_q10 --gt-output datasets/LIVE1_Y
    python scripts/data_preparation/generate_lq.py --task demosaic --input datasets/McMaster \
        --output datasets/McMaster_mosaic
    python scripts/data_preparation/generate_lq.py --task sr --scale 4 --input datasets/Set5/original \
        --output datasets/Set5/LRbicx4 --gt-output datasets/Set5/GTmod4

Every image under --input (searched recursively) gives a PNG under its own name (relative path, extension .png) in
--output, and with --gt-output the ground truth it was made from: the image itself (grey-converted with --gray),
its Y channel for --task jpeg on colour input, the HR cropped to a multiple of the scale for --task sr. The
degradations are those of rnan_basicsr/data/degradations.py, the same code the datasets use:

  denoise   clean + N(0, sigma^2), sigma on the 0-255 scale, clipped and rounded to 8 bits; the noise of each image
            is seeded from --seed and the image's name, so the same seed gives byte-identical files, and the same
            files as a DenoisingDataset validation set with `seed: <the same>` on the same folder or its LMDB
  jpeg      the BT.601 Y channel (Matlab's rgb2ycbcr), encoded and decoded by OpenCV's JPEG at --quality
  demosaic  the 3-channel GRBG Bayer mosaic with zeros
  sr        Matlab-style bicubic (BasicSR's matlab_functions.imresize) of the HR cropped to a multiple of --scale

Outputs are written to a temporary folder and moved into place at the end; an existing output is replaced only
with --overwrite.
"""
import argparse
import contextlib
import cv2
import os
from os import path as osp

import rnan_basicsr  # noqa: F401  (compatibility patches; must come before any basicsr import)

# isort: split
from basicsr.data.transforms import mod_crop

from rnan_basicsr.data.data_util import convert_channels, image_size, keys_of_folder
from rnan_basicsr.data.degradations import (add_gaussian_noise, bayer_mosaic, bicubic_downscale, image_rng,
                                            jpeg_compress_y)
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import read_image
from rnan_basicsr.utils.script_util import (add_thread_argument, check_output_folder, parallel_map, run_main,
                                            staged_folder)

TASKS = ('denoise', 'jpeg', 'demosaic', 'sr')
# The options of each task; any other task-specific option given is an error, not silently ignored.
TASK_OPTIONS = {'denoise': ('sigma', 'seed', 'gray'), 'jpeg': ('quality', ), 'demosaic': (), 'sr': ('scale', )}
CHANNELS = {'jpeg': 'y', 'demosaic': 'color', 'sr': 'color'}


def check_arguments(args):
    """Raise an InputError for a missing, misplaced or out-of-range option."""
    if not osp.isdir(args.input):
        raise InputError(f'--input {args.input!r} is not a folder of images.')
    for option in ('sigma', 'seed', 'gray', 'quality', 'scale'):
        value = getattr(args, option)
        if value not in (None, False) and option not in TASK_OPTIONS[args.task]:
            raise InputError(f'--{option} does not apply to --task {args.task} (it takes: '
                             f'{", ".join("--" + o for o in TASK_OPTIONS[args.task]) or "no options"}).')
    required = {'denoise': 'sigma', 'jpeg': 'quality', 'sr': 'scale'}.get(args.task)
    if required and getattr(args, required) is None:
        raise InputError(f'--task {args.task} needs --{required}.')
    if args.task == 'denoise':
        if not 0 <= args.sigma <= 255:
            raise InputError(f'--sigma must be on the 0-255 scale (e.g. 50), got {args.sigma}.')
        if 0 < args.sigma < 1:
            raise InputError(f'--sigma {args.sigma} looks like the [0, 1] scale; sigma is on the 0-255 scale: '
                             f'--sigma {round(args.sigma * 255)}.')
        if args.seed is not None and args.seed < 0:
            raise InputError(f'--seed must be >= 0, got {args.seed}.')
    if args.task == 'jpeg' and not 1 <= args.quality <= 100:
        raise InputError(f'--quality must be in 1..100, got {args.quality}.')
    if args.task == 'sr' and args.scale < 1:
        raise InputError(f'--scale must be a positive integer, got {args.scale}.')
    if args.n_thread < 1:
        raise InputError(f'--n_thread must be >= 1, got {args.n_thread}.')
    outputs = [('--output', args.output)] + ([('--gt-output', args.gt_output)] if args.gt_output else [])
    for flag, folder in outputs:
        check_output_folder(folder, args.overwrite, inputs=[args.input], flag=flag)
    if args.gt_output and osp.realpath(args.gt_output) == osp.realpath(args.output):
        raise InputError('--output and --gt-output must be different folders.')


def make_pair(img, key, args):
    """(lq, gt) uint8 arrays for one decoded image (grey (H, W) or BGR (H, W, 3)) by the task's protocol."""
    if args.task == 'denoise':
        gt = convert_channels(img, 'gray' if args.gray else 'color')
        lq = add_gaussian_noise(gt, args.sigma, image_rng(args.seed or 0, key), clip=True)
    else:
        gt = convert_channels(img, CHANNELS[args.task])
        if args.task == 'jpeg':
            lq = jpeg_compress_y(gt, args.quality)
        elif args.task == 'demosaic':
            lq = bayer_mosaic(gt)
        else:
            lq = bicubic_downscale(gt, args.scale)
            gt = mod_crop(gt, args.scale)
    return lq, gt


def _write_png(img, path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img):
        raise InputError(f'cannot write {path!r} (disk full or no permission?)')


def generate(args):
    check_arguments(args)
    files = keys_of_folder(args.input, '--input')
    for rel_path in files.values():  # every header before anything is written: a bad file fails fast
        height, width = image_size(osp.join(args.input, rel_path))
        if args.task == 'sr' and (height < args.scale or width < args.scale):
            raise InputError(f'{osp.join(args.input, rel_path)!r} ({width}x{height}) is smaller than --scale '
                             f'{args.scale}.')
    with contextlib.ExitStack() as stack:
        lq_dir = stack.enter_context(staged_folder(args.output, args.overwrite))
        gt_dir = stack.enter_context(staged_folder(args.gt_output, args.overwrite)) if args.gt_output else None
        os.makedirs(lq_dir)
        if gt_dir:
            os.makedirs(gt_dir)

        def work(key):
            lq, gt = make_pair(read_image(osp.join(args.input, files[key]), eight_bit=True), key, args)
            _write_png(lq, osp.join(lq_dir, f'{key}.png'))
            if gt_dir:
                _write_png(gt, osp.join(gt_dir, f'{key}.png'))

        for _ in parallel_map(work, sorted(files), args.n_thread, desc=f'generate_lq {args.task}'):
            pass
    print(f'Wrote {len(files)} images to {args.output}' + (f' and {args.gt_output}' if args.gt_output else ''))


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of clean (ground-truth) images, searched recursively')
    parser.add_argument('--output', required=True, help='folder for the degraded images (PNG)')
    parser.add_argument('--task', required=True, choices=TASKS, help='the degradation')
    parser.add_argument('--sigma', type=float, help='denoise: noise standard deviation on the 0-255 scale')
    parser.add_argument('--seed', type=int, help='denoise: random seed (default 0); same seed, same files')
    parser.add_argument('--gray', action='store_true', help='denoise: grey images (colour ones converted)')
    parser.add_argument('--quality', type=int, help='jpeg: JPEG quality 1-100')
    parser.add_argument('--scale', type=int, help='sr: down-scaling factor (2, 3, 4)')
    parser.add_argument(
        '--gt-output', '--gt_output', dest='gt_output', help='also write the matching ground truth (PNG) here')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output folders')
    add_thread_argument(parser)
    return parser


def main(argv=None):
    return run_main('generate_lq.py', generate, build_parser().parse_args(argv))


if __name__ == '__main__':
    raise SystemExit(main())
