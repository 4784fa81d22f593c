"""How far BasicSR's PSNR / SSIM (what this project reports) are from the authors' Matlab protocol, measured on images.

    python scripts/compare_metrics.py --images heldout/HQ [--out metrics.md]

Every clean image of ``--images`` is degraded with this project's degradations (rnan_basicsr/data/degradations.py):
Gaussian noise sigma 30 (seed 0, colour and grey), JPEG quality 10 on Y, and Matlab-bicubic x2 / x4 down-scaling
followed by bicubic up-scaling (BasicSR's ``imresize``); each degraded image stands for a restored one and is scored
against its clean image twice: by ``score`` of rnan_basicsr/tools/evaluate.py (BasicSR's ``calculate_psnr`` /
``calculate_ssim``, the protocol of every table of this project) and by the authors' scripts
(rnan_basicsr/authors_protocol.py). One more row per image scores x4 on Y rounded to 8 bits (``rgb2ycbcr`` on uint8
images, as some SR evaluation scripts do, NOT the authors' protocol) to show what a difference of protocol looks
like. The table (one row per image and case: BasicSR, authors, BasicSR - authors) is printed and, with ``--out``,
written as Markdown. Errors print one line, exit status 2.
"""
import argparse
import numpy as np
from collections import namedtuple
from os import path as osp

import rnan_basicsr  # noqa: F401  (makes basicsr importable and registers RNAN)
from rnan_basicsr.authors_protocol import authors_psnr, authors_ssim
from rnan_basicsr.data import degradations
from rnan_basicsr.tools.evaluate import markdown, score
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.image_io import list_images, read_image, write_text
from rnan_basicsr.utils.script_util import run_main

PROG = 'compare_metrics.py'
SIGMA, QUALITY, SEED = 30, 10, 0

# one scored pair: what it is, the task whose protocol scores it, the scale, the degraded and the clean image (uint8)
Case = namedtuple('Case', ['label', 'task', 'scale', 'restored', 'gt'])


def _bicubic_up(img, scale):
    from basicsr.utils.matlab_functions import imresize

    return np.clip(np.round(imresize(img.astype(np.float32), scale)), 0, 255).astype(np.uint8)


def cases(name, img):
    """The degraded / clean pairs of one clean image (uint8, BGR or grey)."""
    rng = degradations.image_rng(SEED, name)
    grey = degradations.to_gray(img)[..., 0] if img.ndim == 3 else img
    found = []
    if img.ndim == 3:
        found.append(Case(f'dn_rgb sigma{SIGMA}', 'dn_rgb', 1, degradations.add_gaussian_noise(img, SIGMA, rng), img))
    found.append(Case(f'dn_gray sigma{SIGMA}', 'dn_gray', 1, degradations.add_gaussian_noise(grey, SIGMA, rng), grey))
    y = degradations.y_channel(img)
    found.append(Case(f'car q{QUALITY}', 'car', 1, degradations.jpeg_compress_y(img, QUALITY).reshape(y.shape[:2]),
                      y.reshape(y.shape[:2])))
    for scale in (2, 4):
        hr = img[:img.shape[0] // scale * scale, :img.shape[1] // scale * scale]
        found.append(Case(f'sr x{scale}', 'sr', scale, _bicubic_up(degradations.bicubic_downscale(img, scale), scale),
                          hr))
    return found


def measure(name, img):
    """Rows ``[image, case, BasicSR PSNR, authors PSNR, difference, BasicSR SSIM, authors SSIM, difference]``."""
    rows = []
    for case in cases(name, img):
        ours = score(case.restored, case.gt, case.task, case.scale, f'{name} {case.label}', name)
        theirs = (authors_psnr(case.restored, case.gt, case.task, case.scale),
                  authors_ssim(case.restored, case.gt, case.task, case.scale))
        rows.append(_row(name, case.label, ours, theirs))
        if case.task == 'sr' and case.scale == 4 and img.ndim == 3:
            rounded = [degradations.y_channel(i)[..., 0] for i in (case.restored, case.gt)]
            variant = (authors_psnr(*rounded, 'sr', 4), authors_ssim(*rounded, 'sr', 4))
            rows.append(_row(name, 'sr x4, Y rounded to 8 bits (not the authors\' protocol)', variant, theirs))
    return rows


def _row(name, label, ours, theirs):
    return [name, label, f'{ours[0]:.6f}', f'{theirs[0]:.6f}', f'{ours[0] - theirs[0]:+.2e}', f'{ours[1]:.6f}',
            f'{theirs[1]:.6f}', f'{ours[1] - theirs[1]:+.2e}']


HEADER = ['image', 'case', 'PSNR BasicSR (dB)', 'PSNR authors (dB)', 'difference (dB)', 'SSIM BasicSR',
          'SSIM authors', 'difference']


def run(args):
    files = list_images(args.images, '--images')
    rows = []
    for path in files:
        img = read_image(path, eight_bit=True)
        if min(img.shape[:2]) < 32:
            raise InputError(f'{path!r} is {img.shape[1]}x{img.shape[0]}; images of at least 32x32 are needed (x4 '
                             'down-scaling and the 11x11 SSIM window).')
        rows += measure(osp.splitext(osp.basename(path))[0], img)
        print(f'  {osp.basename(path)}: {len(rows)} rows', flush=True)
    text = markdown(HEADER, rows)
    print('\nBasicSR (this project) against the authors\' Matlab protocol; "BasicSR" in the x4 rounded-Y rows is '
          'that variant.\n\n' + text)
    if args.out:
        write_text(args.out, text + '\n')
    return rows


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', required=True, help='an image file or a folder of clean images (8-bit)')
    parser.add_argument('--out', default=None, help='also write the table to this Markdown file')
    return parser


def main(argv=None):
    return run_main(PROG, run, build_parser().parse_args(argv))
