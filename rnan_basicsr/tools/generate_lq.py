"""Make the degraded inputs (and matching ground truth) of the RNAN paper's test protocol from clean images.

    G=scripts/data_preparation/generate_lq.py
    python $G --task denoise --sigma 10 30 50 70 --input datasets/CBSD68/HQ --output 'datasets/CBSD68/N{}'
    python $G --task jpeg --quality 10 20 30 40 --input datasets/LIVE1/HQ --output 'datasets/LIVE1/Q{}' \
        --gt_output datasets/LIVE1/Y
    python $G --task sr --scale 2 3 4 --input datasets/Set5/HQ --output 'datasets/Set5/LRbicx{}' \
        --gt_output 'datasets/Set5/GTmod{}'

``{}`` in --output stands for the level as written (``N{}`` -> ``N10``, ``N12.5``), one folder per level, required
with several; a --gt_output without ``{}`` is written once, with it once per level (required for several SR scales).
Every image under --input (searched recursively) gives a PNG under its own name in each folder. The degradations are
those of rnan_basicsr/data/degradations.py, the levels those of rnan_basicsr/tasks.py (more: docs/data.md):

  denoise   clean + N(0, sigma^2), sigma on the 0-255 scale, clipped and rounded to 8 bits; the noise of each image
            is seeded from --seed and the image's name: the same files in every call, and as a DenoisingDataset
            validation set with `seed: <the same>`
  jpeg      the BT.601 Y channel (Matlab's rgb2ycbcr), encoded and decoded by OpenCV's JPEG at --quality
  demosaic  the 3-channel GRBG Bayer mosaic with zeros
  sr        Matlab-style bicubic (BasicSR's matlab_functions.imresize) of the HR cropped to a multiple of --scale

An existing --gt_output is kept without --overwrite when it holds exactly the ground truth these inputs give (byte
for byte), so levels can be added to a set later; other existing outputs need --overwrite.

Inputs are made 8-bit images of the task's channels, as the paper's test sets are: 16-bit images are reduced to 8
bits, an alpha channel is dropped, grey images become 3 equal channels where the task makes colour images. One note
per kind says which images were changed.
"""
import argparse
import contextlib
import cv2
import os
from collections import OrderedDict
from os import path as osp

import rnan_basicsr  # noqa: F401  (compatibility patches; must come before any basicsr import)

# isort: split
from basicsr.data.transforms import mod_crop

from rnan_basicsr.data.data_util import convert_channels, image_size, keys_of_folder
from rnan_basicsr.data.degradations import (add_gaussian_noise, bayer_mosaic, bicubic_downscale, image_rng,
                                            jpeg_compress_y)
from rnan_basicsr.tasks import DEGRADATIONS, QUALITY, SCALE, TASKS
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import read_image
from rnan_basicsr.utils.script_util import (add_thread_argument, check_new_output_folder, parallel_map, run_main,
                                            staged_folder, write_file)

DEGRADATION_LEVELS = OrderedDict((task.degradation, task.level) for task in TASKS.values())  # denoise: SIGMA ...
# The options of each degradation; any other option given is an error, not silently ignored.
TASK_OPTIONS = {'denoise': ('sigma', 'seed', 'gray'), 'jpeg': ('quality', ), 'demosaic': (), 'sr': ('scale', )}
CHANNELS = {'jpeg': 'y', 'demosaic': 'color', 'sr': 'color'}
PLACEHOLDER = '{}'


def level_text(value):
    """A level as it goes into a folder name: ``50``, ``12.5``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def paper_levels(degradation):
    """The paper's levels of ``degradation`` as they are written on the command line: ``10 30 50 70``."""
    return ' '.join(level_text(v) for v in next(t.levels for t in TASKS.values() if t.degradation == degradation))


def fill(template, level):
    """``template`` with its ``{}`` replaced by the level (unchanged without one)."""
    return template.replace(PLACEHOLDER, level_text(level)) if level is not None else template


def check_level_value(level, value):
    """Raise an InputError for a level outside the range of :mod:`rnan_basicsr.tasks`."""
    flag = f'--{level.name}'
    if level.name == 'sigma' and 0 < value < 1:
        raise InputError(f'--sigma {value} looks like the [0, 1] scale; sigma is on the 0-255 scale: '
                         f'--sigma {round(value * 255)}.')
    if level.integer and not float(value).is_integer():
        raise InputError(f'{flag} must be an integer, got {value}.')
    if not level.minimum <= value <= level.maximum:
        raise InputError(f'{flag} must be in {level.minimum}..{level.maximum} ({level.meaning}), got '
                         f'{level_text(value)}.')


def levels_of(args):
    """The levels asked for (``[None]`` for demosaicing)."""
    level = DEGRADATION_LEVELS[args.task]
    return [None] if level is None else list(getattr(args, level.name))


def output_folders(args):
    """``[(level, lq folder, gt folder or None)]``; a ground truth written once appears with the first level only."""
    folders, gt_written = [], set()
    for level in levels_of(args):
        gt = fill(args.gt_output, level) if args.gt_output else None
        if gt in gt_written:
            gt = None
        gt_written.add(gt)
        folders.append((level, fill(args.output, level), gt))
    return folders


def check_arguments(args):
    """Raise an InputError for a missing, misplaced or out-of-range option, or an output that may not be written."""
    if not osp.isdir(args.input):
        raise InputError(f'--input {args.input!r} is not a folder of images.')
    for option in ('sigma', 'seed', 'gray', 'quality', 'scale'):
        value = getattr(args, option)
        if value not in (None, False) and option not in TASK_OPTIONS[args.task]:
            raise InputError(f'--{option} does not apply to --task {args.task} (it takes: '
                             f'{", ".join("--" + o for o in TASK_OPTIONS[args.task]) or "no options"}).')
    level = DEGRADATION_LEVELS[args.task]
    if level is not None:
        values = getattr(args, level.name)
        if values is None:
            raise InputError(f'--task {args.task} needs --{level.name} (one or more, e.g. --{level.name} '
                             f'{paper_levels(args.task)}).')
        for value in values:
            check_level_value(level, value)
        if len(set(values)) != len(values):
            raise InputError(f'--{level.name} lists a level twice: {" ".join(level_text(v) for v in values)}.')
    if args.seed is not None and args.seed < 0:
        raise InputError(f'--seed must be >= 0, got {args.seed}.')
    if args.n_thread < 1:
        raise InputError(f'--n_thread must be >= 1, got {args.n_thread}.')
    several = len(levels_of(args)) > 1
    if several and PLACEHOLDER not in args.output:
        example = osp.join(osp.dirname(args.output), osp.basename(args.output.rstrip('/')) + PLACEHOLDER)
        raise InputError(f'--output {args.output!r} has no {PLACEHOLDER} for the level, but {len(levels_of(args))} '
                         f'levels give one folder each: e.g. --output {example!r} (quoted).')
    if not several and level is None and PLACEHOLDER in args.output + (args.gt_output or ''):
        raise InputError(f'--task {args.task} has no level to put in {PLACEHOLDER}; give plain folder names.')
    if several and args.task == 'sr' and args.gt_output and PLACEHOLDER not in args.gt_output:
        raise InputError(f'--gt_output {args.gt_output!r} needs {PLACEHOLDER} with several --scale values: the HR is '
                         f'cropped to a multiple of each scale (e.g. --gt_output {args.gt_output + PLACEHOLDER!r}).')
    folders = [('--output', lq) for _, lq, _ in output_folders(args)]
    folders += [('--gt_output', gt) for _, _, gt in output_folders(args) if gt]
    for flag, folder in folders:
        # an existing ground truth may stay if it is byte-identical (checked while generating, see generate)
        kept = flag == '--gt_output' and osp.isdir(folder)
        check_new_output_folder(folder, args.overwrite or kept, inputs=[args.input], flag=flag)
    real = [osp.realpath(folder) for _, folder in folders]
    if len(set(real)) != len(real):
        raise InputError('--output and --gt_output must give different folders (for every level).')


def make_pair(img, key, args, level):
    """(lq, gt) uint8 arrays for one decoded image (grey (H, W) or BGR (H, W, 3)) by the task's protocol."""
    if args.task == 'denoise':
        gt = convert_channels(img, 'gray' if args.gray else 'color')
        lq = add_gaussian_noise(gt, level, image_rng(args.seed or 0, key), clip=True)
    else:
        gt = convert_channels(img, CHANNELS[args.task])
        if args.task == 'jpeg':
            lq = jpeg_compress_y(gt, level)
        elif args.task == 'demosaic':
            lq = bayer_mosaic(gt)
        else:
            lq = bicubic_downscale(gt, level)
            gt = mod_crop(gt, level)
    return lq, gt


def _png(img):
    """The bytes of ``img`` as the PNG file written (a (H, W, 1) array as a grey image)."""
    return cv2.imencode('.png', img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img)[1].tobytes()


def _check_kept_gt(img, folder, key):
    """Refuse to keep an existing --gt_output whose ``<key>.png`` is not exactly ``img``'s PNG."""
    path = osp.join(folder, f'{key}.png')
    if not osp.isfile(path):
        problem = f'has no {key}.png'
    else:
        with open(path, 'rb') as f:
            same = f.read() == _png(img)
        problem = None if same else f'its {key}.png differs from the ground truth these inputs give'
    if problem:
        raise InputError(f'--gt_output {folder!r} exists and {problem}; pass --overwrite to replace it, or choose '
                         'another folder.')


#: the notes of :func:`read_input`, by kind
INPUT_NOTES = {
    '16-bit': '16-bit, reduced to 8 bits (the protocol is 8-bit)',
    'alpha': 'with an alpha channel, dropped',
    'grey': 'grey, written as 3 equal colour channels (this task makes colour images)',
}


def read_input(path, task, gray):
    """One input as the protocol needs it: uint8, (H, W) or (H, W, 3) BGR; and the kinds of :data:`INPUT_NOTES` that
    changed it. Plain 8-bit images are decoded once; others again as the datasets decode them."""
    img = read_image(path, keep_alpha=True)
    kinds = []
    if img.dtype != 'uint8':
        kinds.append('16-bit')
    if img.ndim == 3 and img.shape[2] == 4:
        kinds.append('alpha')
    if kinds:
        img = read_image(path, eight_bit=True)  # OpenCV's own reduction, as decode_image: the same pixels
    if img.ndim == 2 and (CHANNELS.get(task) == 'color' or task == 'denoise' and not gray):
        kinds.append('grey')
    return img, kinds


def generate(args):
    check_arguments(args)
    files = keys_of_folder(args.input, '--input')
    largest_scale = max(args.scale) if args.task == 'sr' else 1
    for rel_path in files.values():  # every header before anything is written: a bad file fails fast
        height, width = image_size(osp.join(args.input, rel_path))
        if height < largest_scale or width < largest_scale:
            raise InputError(f'{osp.join(args.input, rel_path)!r} ({width}x{height}) is smaller than --scale '
                             f'{largest_scale}.')
    folders = output_folders(args)
    kept = {gt for _, _, gt in folders if gt and osp.isdir(gt) and not args.overwrite}
    for gt in kept:
        extra = sorted(set(keys_of_folder(gt, '--gt_output')) - set(files))
        if extra:
            raise InputError(f'--gt_output {gt!r} exists and holds {extra[0]!r}, which no input gives; pass '
                             '--overwrite to replace it, or choose another folder.')
    notes = {kind: [] for kind in INPUT_NOTES}
    with contextlib.ExitStack() as stack:
        staged = []  # (level, temporary lq folder, temporary gt folder / kept gt folder / None, gt kept)
        for level, lq, gt in folders:
            lq_dir = stack.enter_context(staged_folder(lq, args.overwrite))
            gt_dir = gt if gt in kept else stack.enter_context(staged_folder(gt, args.overwrite)) if gt else None
            for folder in (lq_dir, gt_dir):
                if folder and folder != gt:
                    os.makedirs(folder)
            staged.append((level, lq_dir, gt_dir, gt in kept))

        def work(key):
            img, kinds = read_input(osp.join(args.input, files[key]), args.task, args.gray)
            for level, lq_dir, gt_dir, gt_kept in staged:
                lq, gt = make_pair(img, key, args, level)
                write_file(osp.join(lq_dir, f'{key}.png'), _png(lq))
                if gt_kept:
                    _check_kept_gt(gt, gt_dir, key)
                elif gt_dir:
                    write_file(osp.join(gt_dir, f'{key}.png'), _png(gt))
            return key, kinds

        for key, kinds in parallel_map(work, sorted(files), args.n_thread, desc=f'generate_lq {args.task}'):
            for kind in kinds:
                notes[kind].append(files[key])
    count = f'{len(files)} image{"" if len(files) == 1 else "s"}'
    for level, lq, gt in folders:
        if gt in kept:
            print(f'Wrote {count} to {lq}; kept {gt}: it holds exactly their ground truth')
        else:
            print(f'Wrote {count} to {lq}' + (f' and {gt}' if gt else ''))
    for kind, paths in notes.items():
        if paths:
            shown = ', '.join(paths[:3]) + (f' and {len(paths) - 3} more' if len(paths) > 3 else '')
            print(f'note: {len(paths)} input(s) {INPUT_NOTES[kind]}: {shown}')


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of clean (ground-truth) images, searched recursively')
    parser.add_argument('--output', required=True,
                        help='folder for the degraded images (PNG); {} stands for the level (required with several)')
    parser.add_argument('--task', required=True, choices=DEGRADATIONS, help='the degradation')
    parser.add_argument('--sigma', type=float, nargs='+', metavar='SIGMA',
                        help='denoise: noise standard deviation(s) on the 0-255 scale '
                        f'(paper: {paper_levels("denoise")})')
    parser.add_argument('--seed', type=int, help='denoise: random seed (default 0); same seed, same files')
    parser.add_argument('--gray', action='store_true', help='denoise: grey images (colour ones converted)')
    parser.add_argument('--quality', type=int, nargs='+', metavar='Q',
                        help=f'jpeg: JPEG quality(ies) {QUALITY.minimum}-{QUALITY.maximum} '
                        f'(paper: {paper_levels("jpeg")})')
    parser.add_argument('--scale', type=int, nargs='+', metavar='S',
                        help=f'sr: down-scaling factor(s) {SCALE.minimum}-{SCALE.maximum} '
                        f'(paper: {paper_levels("sr")})')
    parser.add_argument('--gt_output',
                        help='also write the matching ground truth (PNG) here; with {}, one folder per level')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output folders')
    add_thread_argument(parser)
    return parser


def main(argv=None):
    return run_main('generate_lq.py', generate, build_parser().parse_args(argv))
