"""Cut large images into overlapping sub-images for fast training I/O (e.g. DIV2K 2K images -> 480x480 pieces).

    python scripts/data_preparation/extract_subimages.py --input datasets/DIV2K/DIV2K_train_HR \
        --output datasets/DIV2K/DIV2K_train_HR_sub --crop_size 480 --step 240
    # HR and matching bicubic LR sub-images for x4 super-resolution, cut at the same places:
    python scripts/data_preparation/extract_subimages.py --input datasets/DIV2K/DIV2K_train_HR \
        --output datasets/DIV2K/DIV2K_train_HR_sub --crop_size 480 --step 240 \
        --scale 4 --input_lr datasets/DIV2K/DIV2K_train_LR_bicubic/X4 \
        --output_lr datasets/DIV2K/DIV2K_train_LR_bicubic/X4_sub

Windows of --crop_size pixels every --step pixels, plus one flush with the bottom / right edge when more than
--thresh_size pixels are left (BasicSR's rule), written as lossless PNG ``<name>_s<index>.png`` (alpha and 16 bits
kept). With --scale, the LR image of each HR image (same name, or DIV2K's ``<name>x<scale>``; the HR must be the LR
size times the scale) is cut at the same places scaled down, under the same names. More: docs/data.md.
"""
import argparse
import contextlib
import cv2
import numpy as np
import os
from os import path as osp

from rnan_basicsr.data.data_util import keys_of_folder
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.script_util import (add_thread_argument, check_new_output_folder, parallel_map, run_main,
                                            staged_folder, write_file)


def crop_starts(length, crop_size, step, thresh_size):
    """Start offsets of the windows along one axis of ``length`` pixels (none if the axis is shorter than a crop)."""
    if length < crop_size:
        return []
    starts = list(range(0, length - crop_size + 1, step))
    if length - (starts[-1] + crop_size) > thresh_size:
        starts.append(length - crop_size)
    return starts


def _read_unchanged(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f'{path!r} is not a readable image (corrupt, truncated or not an image); replace or remove '
                         'it.')
    return img


def _write_png(img, path, compression_level):
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression_level]
    write_file(path, cv2.imencode('.png', np.ascontiguousarray(img), params)[1])


def pair_lr_files(hr_files, lr_files, scale, lr_folder):
    """Map HR key -> LR relative path; the LR key is the HR key or DIV2K's ``<key>x<scale>``."""
    pairs, used = {}, set()
    for key in hr_files:
        for candidate in (key, f'{key}x{scale}'):
            if candidate in lr_files:
                pairs[key] = lr_files[candidate]
                used.add(candidate)
                break
        else:
            raise InputError(f'HR and LR folders do not pair up: no LR image for HR {hr_files[key]!r} in --input_lr '
                             f'{lr_folder!r} (expected {key}.* or {key}x{scale}.*).')
    extra = sorted(set(lr_files) - used)
    if extra:
        raise InputError(f'HR and LR folders do not pair up: {len(extra)} LR images have no HR image, the first is '
                         f'{lr_files[extra[0]]!r} in --input_lr {lr_folder!r}.')
    return pairs


def extract(args):
    check_arguments(args)
    hr_files = keys_of_folder(args.input, '--input')
    lr_pairs = {}
    if args.scale:
        lr_pairs = pair_lr_files(hr_files, keys_of_folder(args.input_lr, '--input_lr'), args.scale, args.input_lr)
    scale = args.scale or 1
    crop, step, thresh = args.crop_size // scale, args.step // scale, args.thresh_size // scale

    with contextlib.ExitStack() as stack:
        hr_dir = stack.enter_context(staged_folder(args.output, args.overwrite))
        lr_dir = stack.enter_context(staged_folder(args.output_lr, args.overwrite)) if args.scale else None
        for folder in (hr_dir, lr_dir):
            if folder:
                os.makedirs(folder)

        def work(key):
            hr_path = osp.join(args.input, hr_files[key])
            hr = _read_unchanged(hr_path)
            lr = None
            if args.scale:
                lr_path = osp.join(args.input_lr, lr_pairs[key])
                lr = _read_unchanged(lr_path)
                if hr.shape[0] // scale != lr.shape[0] or hr.shape[1] // scale != lr.shape[1]:
                    raise InputError(f'HR {hr_path!r} is {hr.shape[1]}x{hr.shape[0]} but its LR {lr_path!r} is '
                                     f'{lr.shape[1]}x{lr.shape[0]}, not 1/{scale} of it. Check --scale and the '
                                     'folders.')
            grid = lr if lr is not None else hr
            tops = crop_starts(grid.shape[0], crop, step, thresh)
            lefts = crop_starts(grid.shape[1], crop, step, thresh)
            index = 0
            for top in tops:
                for left in lefts:
                    index += 1
                    name = f'{key}_s{index:03d}.png'
                    _write_png(hr[top * scale:(top + crop) * scale, left * scale:(left + crop) * scale],
                               osp.join(hr_dir, name), args.compression_level)
                    if lr is not None:
                        _write_png(lr[top:top + crop, left:left + crop], osp.join(lr_dir, name),
                                   args.compression_level)
            return index

        counts = list(parallel_map(work, sorted(hr_files), args.n_thread, desc='extract_subimages'))
    skipped = [hr_files[key] for key, count in zip(sorted(hr_files), counts) if count == 0]
    print(f'Wrote {sum(counts)} sub-images of {len(hr_files) - len(skipped)} images to {args.output}' +
          (f' and {args.output_lr}' if args.scale else ''))
    if skipped:
        print(f'Skipped {len(skipped)} images smaller than --crop_size {args.crop_size}: '
              f'{", ".join(skipped[:10])}{" ..." if len(skipped) > 10 else ""}')


def check_arguments(args):
    if not osp.isdir(args.input):
        raise InputError(f'--input {args.input!r} is not a folder of images.')
    for flag, value, minimum in (('--crop_size', args.crop_size, 1), ('--step', args.step, 1),
                                 ('--thresh_size', args.thresh_size, 0), ('--n_thread', args.n_thread, 1),
                                 ('--compression_level', args.compression_level, 0)):
        if value < minimum:
            raise InputError(f'{flag} must be >= {minimum}, got {value}.')
    if args.compression_level > 9:
        raise InputError(f'--compression_level must be in 0..9, got {args.compression_level}.')
    lr_flags = (args.scale, args.input_lr, args.output_lr)
    if any(v is not None for v in lr_flags) and not all(v is not None for v in lr_flags):
        raise InputError('--scale, --input_lr and --output_lr go together: give all three for matching LR '
                         'sub-images, or none.')
    if args.scale is not None:
        if args.scale < 1 or args.crop_size % args.scale or args.step % args.scale:
            raise InputError(f'--scale {args.scale} must be a positive integer dividing --crop_size '
                             f'({args.crop_size}) and --step ({args.step}).')
        if not osp.isdir(args.input_lr):
            raise InputError(f'--input_lr {args.input_lr!r} is not a folder of images.')
        if osp.realpath(args.output) == osp.realpath(args.output_lr):
            raise InputError('--output and --output_lr must be different folders.')
    inputs = [args.input] + ([args.input_lr] if args.scale else [])
    check_new_output_folder(args.output, args.overwrite, inputs=inputs, flag='--output')
    if args.scale:
        check_new_output_folder(args.output_lr, args.overwrite, inputs=inputs, flag='--output_lr')


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of (HR) images, searched recursively')
    parser.add_argument('--output', required=True, help='folder for the sub-images')
    parser.add_argument('--crop_size', type=int, default=480,
                        help='sub-image size in HR pixels (default 480)')
    parser.add_argument('--step', type=int, default=240, help='distance between windows (default 240)')
    parser.add_argument('--thresh_size', type=int, default=0,
                        help='add an edge-flush window when more than this many pixels are left over (default 0)')
    parser.add_argument('--scale', type=int, help='with --input_lr/--output_lr: the LR scale factor')
    parser.add_argument('--input_lr', help='folder of LR images matching --input')
    parser.add_argument('--output_lr', help='folder for the LR sub-images')
    parser.add_argument('--compression_level', type=int, default=3,
                        help='PNG compression level 0-9 (default 3)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output folders')
    add_thread_argument(parser)
    return parser


def main(argv=None):
    return run_main('extract_subimages.py', extract, build_parser().parse_args(argv))
