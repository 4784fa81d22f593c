"""Quickstart (interim): a tiny RNAN denoising run with `basicsr train` on synthetic images, on the CPU.

Writes everything under ``quickstart_output/`` (or ``--workdir``): datasets/, experiments/, tb_logger/.
"""
import argparse
import cv2
import numpy as np
import os
import subprocess
import sys
from os import path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def make_pairs(folder, count, size, sigma, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(folder, 'gt'), exist_ok=True)
    os.makedirs(osp.join(folder, 'lq'), exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(count):
        gt = np.stack([127.5 + 100 * np.sin(rng.uniform(0.05, 0.3) * yy + c) * np.cos(rng.uniform(0.05, 0.3) * xx)
                       for c in range(3)], axis=-1)
        gt = np.clip(np.round(gt), 0, 255).astype(np.uint8)
        lq = np.clip(np.round(gt + rng.normal(0, sigma, gt.shape)), 0, 255).astype(np.uint8)
        cv2.imwrite(osp.join(folder, 'gt', f'img{i:03d}.png'), gt)
        cv2.imwrite(osp.join(folder, 'lq', f'img{i:03d}.png'), lq)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--workdir', default=osp.join(ROOT, 'quickstart_output'))
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    make_pairs(osp.join(args.workdir, 'datasets', 'tiny', 'train'), 4, 32, 15, seed=0)
    make_pairs(osp.join(args.workdir, 'datasets', 'tiny', 'val'), 1, 32, 15, seed=100)
    basicsr = osp.join(osp.dirname(sys.executable), 'basicsr')
    options = osp.join(ROOT, 'tests', 'options', 'train_tiny_rnan.yml')
    command = [basicsr, 'train', '-opt', options]
    if osp.isdir(osp.join(args.workdir, 'experiments', 'tiny_rnan', 'training_states')):
        command.append('--auto_resume')
    print('[quickstart]', ' '.join(command), f'(in {args.workdir})', flush=True)
    return subprocess.call(command, cwd=args.workdir)


if __name__ == '__main__':
    sys.exit(main())
