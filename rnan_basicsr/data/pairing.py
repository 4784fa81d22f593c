"""Pairing LQ images with their GT images by key and checking every pair's sizes from the image headers (and every
file's end), before anything is decoded: one rule for our datasets (scale 1) and the pre-flight of BasicSR's
``PairedImageDataset`` (super-resolution, HR = LR x scale).
"""
from dataclasses import dataclass
from os import path as osp
from typing import Optional, Tuple

from rnan_basicsr.data.data_util import check_whole, image_key, image_size, keys_of_folder, lmdb_keys, read_meta_info
from rnan_basicsr.utils.errors import InputError


@dataclass
class Pair:
    """One GT image and its LQ partner (``lq_*`` None when the LQ is made on the fly): ``*_path`` the file's path or
    the LMDB key, ``*_size`` (h, w) or None (an LMDB without shapes), ``*_where`` how messages name it."""
    key: str
    gt_path: str
    gt_size: Optional[Tuple[int, int]]
    gt_where: str
    lq_path: Optional[str] = None
    lq_size: Optional[Tuple[int, int]] = None
    lq_where: Optional[str] = None


def lq_key(gt_key, filename_tmpl):
    """The key of a GT image's LQ partner: ``filename_tmpl`` applied to the name, the sub-folder kept."""
    folder, _, stem = gt_key.rpartition('/')
    return f'{folder}/{filename_tmpl.format(stem)}' if folder else filename_tmpl.format(stem)


def guess_filename_tmpl(gt_keys, lq_keys):
    """A ``filename_tmpl`` (a prefix or suffix around ``{}``, e.g. ``'{}x2'`` for DIV2K's LR names) that pairs every
    GT key with an LQ key, or None; the candidates come from the LQ names that begin or end with the first GT name."""
    if not gt_keys:
        return None
    lq_set = set(lq_keys)
    folder, stem = osp.split(sorted(gt_keys)[0])
    candidates = set()
    for key in lq_set:
        lq_folder, lq_stem = osp.split(key)
        if lq_folder != folder or lq_stem == stem:
            continue
        if lq_stem.startswith(stem):
            candidates.add('{}' + lq_stem[len(stem):])
        if lq_stem.endswith(stem):
            candidates.add(lq_stem[:-len(stem)] + '{}')
    for tmpl in sorted(candidates):
        if tmpl.count('{') == 1 and tmpl.count('}') == 1 and all(lq_key(k, tmpl) in lq_set for k in gt_keys):
            return tmpl
    return None


def _side(label, root, backend, what, meta_info_file=None):
    """The images of one data root (an LMDB, a folder searched recursively, or the images of a meta_info file):
    key -> path relative to ``root`` (or the LMDB key), and a function key -> (path or LMDB key, (h, w) or None, how
    messages name it); sizes come from the listing where it has them, else from the headers."""
    if backend == 'lmdb':
        shapes = lmdb_keys(root, what)
        files, sizes = {key: key for key in shapes}, {key: shape for key, shape in shapes.items() if shape}
    elif meta_info_file is None:
        files, sizes = keys_of_folder(root, what), {}
    else:
        files, sizes = {}, {}
        for name, shape in read_meta_info(meta_info_file, f'{label}: meta_info_file'):
            key = image_key(name)
            if key in files:
                raise InputError(f'{label}: meta_info_file {meta_info_file!r} lists {files[key]!r} and {name!r}, '
                                 'which have the same name without extension; keep one of them.',
                                 key=('meta_info_file', ))
            if not osp.isfile(osp.join(root, name)):
                raise InputError(f'{label}: {name!r} is listed in meta_info_file {meta_info_file!r} but '
                                 f'{osp.join(root, name)!r} does not exist. Remove the line or add the image.',
                                 key=('meta_info_file', ))
            files[key] = name
            if shape is not None:
                sizes[key] = shape[:2]

    def entry(key):
        if backend == 'lmdb':
            return files[key], sizes.get(key), f'{key!r} in {root!r}'
        path = osp.join(root, files[key])
        try:
            if key in sizes:
                check_whole(path)
                return path, sizes[key], repr(path)
            return path, image_size(path), repr(path)
        except InputError as error:
            raise InputError(f'{label}: {error}') from None

    return files, entry


def pair_images(label, gt_root, lq_root=None, backend='disk', filename_tmpl='{}', meta_info_file=None,
                names=('GT', 'LQ'), fix_missing='Make both folders hold the same images.'):
    """The :class:`Pair` of every GT image, sorted by key, sizes read from the headers.

    ``label`` names the dataset in errors (``"datasets.train (DIV2K)"``), ``names`` GT and LQ (``('HR', 'LR')`` for
    SR); the roots are folders or LMDBs by ``backend``, ``lq_root`` None lists the GT images alone; ``filename_tmpl``
    maps a GT name to its LQ name (:func:`lq_key`, any extension); ``meta_info_file`` lists the GT images (disk).
    Refused: a GT image without an LQ one (with the advice ``fix_missing``) or the reverse, naming the first and the
    counts; unreadable headers; what the listing refuses."""
    gt_name, lq_name = names
    gt_files, gt_entry = _side(label, gt_root, backend, f'{label}: dataroot_gt', meta_info_file)
    lq_key_of, lq_entry = {}, None
    if lq_root is not None:
        lq_files, lq_entry = _side(label, lq_root, backend, f'{label}: dataroot_lq')
        lq_key_of = {key: lq_key(key, filename_tmpl) for key in gt_files}
        missing = [key for key in sorted(gt_files) if lq_key_of[key] not in lq_files]
        if missing:
            first = missing[0]
            guess = guess_filename_tmpl(gt_files, lq_files)
            if guess is not None and guess != filename_tmpl:
                fix_missing = (f"The {lq_name} names fit filename_tmpl: '{guess}', which pairs all {len(gt_files)} "
                               f'{gt_name} images: add it to this dataset\'s options.')
            raise InputError(
                f'{label}: {lq_name} and {gt_name} do not pair up: {len(missing)} of {len(gt_files)} {gt_name} images '
                f'have no {lq_name} image in dataroot_lq {lq_root!r}. The first is {gt_name} {gt_files[first]!r} in '
                f'dataroot_gt {gt_root!r}, whose {lq_name} image should be {lq_key_of[first]!r} (any image '
                f'extension; filename_tmpl {filename_tmpl!r}). {fix_missing}', key=('dataroot_lq', ))
        extra = sorted(set(lq_files) - set(lq_key_of.values()))
        if extra:
            raise InputError(
                f'{label}: {lq_name} and {gt_name} do not pair up: {len(extra)} images in dataroot_lq {lq_root!r} '
                f'have no {gt_name} partner in dataroot_gt {gt_root!r}. The first is {lq_files[extra[0]]!r} '
                f'(filename_tmpl {filename_tmpl!r}). Make both folders hold the same images.', key=('dataroot_lq', ))
    pairs = []
    for key in sorted(gt_files):
        pair = Pair(key, *gt_entry(key))
        if lq_entry is not None:
            pair.lq_path, pair.lq_size, pair.lq_where = lq_entry(lq_key_of[key])
        pairs.append(pair)
    return pairs


def _looks_like(gt, lq, gt_name):
    """Words for the factor between a GT size and an LQ size: ``x4``, ``the same size ...``, or None."""
    (gh, gw), (lh, lw) = gt, lq
    if (gh, gw) == (lh, lw):
        return f'the same size as their {gt_name} images (x1: not downscaled)'
    factor = round(gh / lh) if lh else 0
    if factor >= 2 and gh // factor == lh and gw // factor == lw:
        return f'x{factor}'
    return None


def check_sizes(pairs, label, scale=1, exact=True, gt_size=None, names=('GT', 'LQ'), fix=''):
    """Refuse the first GT image smaller than ``gt_size`` (training patches) and the first pair of :func:`pair_images`
    whose sizes do not fit ``scale`` (pairs of unknown sizes skipped), naming both sizes, what the LQ images look like
    where recognisable (``These LR images are x4.``) and the advice ``fix``. The rule is GT = LQ x scale when
    ``exact`` (training crops, restoration), else GT // scale = LQ (BasicSR's testing crops the GT)."""
    gt_name, lq_name = names
    for pair in pairs:
        gt, lq = pair.gt_size, pair.lq_size
        if gt_size is not None and gt is not None and min(gt) < gt_size:
            raise InputError(f'{label}: {gt_name} image {pair.gt_where} is {gt[1]}x{gt[0]}, smaller than gt_size '
                             f'{gt_size}. Remove it, lower gt_size, or extract sub-images of at least {gt_size} '
                             'pixels.', key=('gt_size', ))
        if gt is None or lq is None:
            continue
        if all(g == q * scale if exact else g // scale == q for g, q in zip(gt, lq)):
            continue
        if scale == 1:
            rule = 'restoration at scale 1: both the same size'
        else:
            rule = f'{gt_name} = {lq_name} x scale' if exact else f'{gt_name} // scale = {lq_name}'
        looks = _looks_like(gt, lq, gt_name) if scale != 1 else None
        seen = f' These {lq_name} images are {looks}.' if looks else ''
        raise InputError(f'{label}: {lq_name} image {pair.lq_where} is {lq[1]}x{lq[0]} and its {gt_name} image '
                         f'{pair.gt_where} is {gt[1]}x{gt[0]}, which does not fit scale {scale} ({rule}).{seen} '
                         f'{fix}'.rstrip(), key=('dataroot_lq', ))
