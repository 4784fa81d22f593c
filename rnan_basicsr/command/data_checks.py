"""Pre-flight checks of the data: every dataset is built (our classes check their files then) and BasicSR's
``PairedImageDataset`` (super-resolution) is paired and measured here, before anything is created or written.

BasicSR finds a wrong SR pair late or never: an x4 LR folder under ``scale: 2`` stops training with "Scale
mismatches" at the first batch, and under ``basicsr test`` the ground truth is silently cropped to 2x the LR size, so
the run exits 0 with a plausible PSNR. Here every LR/HR pair is matched by name and its sizes compared with
``scale`` from the image headers (or the LMDB's meta_info), and a mismatch says what the images look like.
"""
from os import path as osp

from rnan_basicsr.data.data_util import image_size, keys_of_folder, lmdb_keys, read_meta_info
from rnan_basicsr.utils.errors import InputError


def _images(root, backend, label, key, meta_info_file=None):
    """``{name: (h, w) or None}`` of the images of a folder or LMDB; the name is the file's stem or LMDB key."""
    what = f'{label}: {key}'
    if backend == 'lmdb':
        return {name: ('lmdb', shape) for name, shape in lmdb_keys(root, what).items()}
    if meta_info_file is not None:
        names = [name for name, _ in read_meta_info(meta_info_file, f'{label}: meta_info_file')]
        return {osp.splitext(name)[0]: ('file', osp.join(root, name)) for name in names}
    return {name: ('file', osp.join(root, rel)) for name, rel in keys_of_folder(root, what).items()}


def _size(entry):
    kind, value = entry
    return image_size(value) if kind == 'file' else value


def _where(entry, name, root):
    return repr(entry[1]) if entry[0] == 'file' else f'{name!r} in {root!r}'


def _looks_like(gt, lq):
    """Words for the factor between an HR size and an LR size: ``x4``, ``the same size``, or None."""
    (gh, gw), (lh, lw) = gt, lq
    if (gh, gw) == (lh, lw):
        return 'the same size as their HR images (x1: not downscaled)'
    factor = round(gh / lh) if lh else 0
    if factor >= 1 and gh // factor == lh and gw // factor == lw:
        return f'x{factor}'
    return None


def check_paired_images(options, label):
    """Pair the LR (``dataroot_lq``) and HR (``dataroot_gt``) images of a PairedImageDataset by name and check that
    every pair's sizes fit ``scale``: exactly ``HR = LR x scale`` for training (BasicSR's ``paired_random_crop``),
    ``HR // scale = LR`` otherwise (BasicSR crops the HR to ``LR x scale`` when testing); training patches must fit.

    Raises:
        InputError: naming the dataset, the first file that does not fit, both sizes, the scale, and what the
            images look like (e.g. "these LR images are x4").
    """
    backend = options['io_backend']['type']
    if backend == 'memcached':
        return
    scale, tmpl, is_train = options.get('scale', 1), options.get('filename_tmpl', '{}'), options['phase'] == 'train'
    gt_root, lq_root = options['dataroot_gt'], options['dataroot_lq']
    gts = _images(gt_root, backend, label, 'dataroot_gt', options.get('meta_info_file') if backend == 'disk' else None)
    lqs = _images(lq_root, backend, label, 'dataroot_lq')
    missing = [name for name in gts if tmpl.format(name) not in lqs]
    if missing:
        raise InputError(f'{label}: LR and HR images do not pair up: {len(missing)} of {len(gts)} HR images in '
                         f'dataroot_gt {gt_root!r} have no LR image in dataroot_lq {lq_root!r}; the first is '
                         f'{missing[0]!r}, whose LR image should be named {tmpl.format(missing[0])!r} (filename_tmpl '
                         f'{tmpl!r}). Make both folders hold the same images.')
    gt_size = options.get('gt_size') if is_train else None
    for name in sorted(gts):
        lq_name = tmpl.format(name)
        gt, lq = _size(gts[name]), _size(lqs[lq_name])
        if gt is None or lq is None:  # an LMDB whose meta_info has no shapes
            continue
        fits = (gt[0] == lq[0] * scale and gt[1] == lq[1] * scale) if is_train else (
            gt[0] // scale == lq[0] and gt[1] // scale == lq[1])
        if not fits:
            looks = _looks_like(gt, lq)
            seen = f' These LR images are {looks}.' if looks else ''
            rule = 'HR = LR x scale' if is_train else 'HR // scale = LR'
            raise InputError(f'{label}: LR image {_where(lqs[lq_name], lq_name, lq_root)} is {lq[1]}x{lq[0]} and its '
                             f'HR image {_where(gts[name], name, gt_root)} is {gt[1]}x{gt[0]}, which does not fit '
                             f'scale {scale} ({rule}).{seen} Use LR images made for x{scale} (generate_lq.py --task sr '
                             f'--scale {scale}), or set scale (and network_g.upscale) to their factor.')
        if gt_size is not None and min(gt) < gt_size:
            raise InputError(f'{label}: HR image {_where(gts[name], name, gt_root)} is {gt[1]}x{gt[0]}, smaller than '
                             f'gt_size {gt_size}. Remove it, lower gt_size, or extract sub-images of at least '
                             f'{gt_size} pixels.')
