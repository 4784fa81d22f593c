"""Pre-flight checks of the data: BasicSR's ``PairedImageDataset`` (super-resolution) paired and measured against
``scale`` (BasicSR finds a wrong SR pair at the first batch, or, testing, crops the HR and reports a plausible PSNR),
and the images of validation and test sets on disk decoded whole (docs/training.md, "What a run checks").
"""
import copy
from basicsr.data.paired_image_dataset import PairedImageDataset

from rnan_basicsr.data.data_util import decode_image
from rnan_basicsr.data.pairing import check_sizes, pair_images
from rnan_basicsr.options.schema import PairedImageDatasetOptions
from rnan_basicsr.utils.errors import InputError


def decode_images(paths, label):
    """Decode every image file of ``paths`` as the datasets do, so that a damaged file of a validation or test set
    (small) is refused now, not at the first validation hours into training. Raises an InputError naming the dataset
    and the first file that does not decode."""
    for path in paths:
        try:
            with open(path, 'rb') as f:
                content = f.read()
        except OSError as error:
            raise InputError(f'{label}: cannot read image {path!r}: {error.strerror or error}') from None
        decode_image(content, f'{path!r} ({label})')


def check_paired_images(options, label):
    """Pair the LR (``dataroot_lq``) and HR (``dataroot_gt``) images of a PairedImageDataset by name and check that
    every pair's sizes fit ``scale``: exactly ``HR = LR x scale`` for training (BasicSR's ``paired_random_crop``),
    ``HR // scale = LR`` otherwise (BasicSR crops the HR to ``LR x scale`` when testing); training patches must fit.
    Then BasicSR's own pairing runs, so that whatever it refuses is refused here, before the run. Raises an
    InputError naming the dataset, the first file that does not fit, both sizes, the scale, and what the images look
    like (e.g. "these LR images are x4").
    """
    backend = options['io_backend']['type']
    if backend == 'memcached':
        return
    scale, is_train = options['scale'], options['phase'] == 'train'  # scale: given for paired data (rules.py)
    # BasicSR pairs LMDBs by their keys and ignores filename_tmpl there
    tmpl = '{}' if backend == 'lmdb' else PairedImageDatasetOptions.model_construct(**options).filename_tmpl
    names = ('HR', 'LR')
    pairs = pair_images(label, options['dataroot_gt'], options['dataroot_lq'], backend, tmpl,
                        options.get('meta_info_file') if backend == 'disk' else None, names=names)
    check_sizes(pairs, label, scale, exact=is_train, gt_size=options.get('gt_size') if is_train else None,
                names=names, fix=f'Use LR images made for x{scale} (generate_lq.py --task sr --scale {scale}), or set '
                'scale (and network_g.upscale) to their factor.')
    if backend == 'disk' and not is_train:
        decode_images([path for pair in pairs for path in (pair.gt_path, pair.lq_path)], label)
    _check_basicsr_pairs(options, label)


def _check_basicsr_pairs(options, label):
    """BasicSR's PairedImageDataset lists its pairs when built (nothing is read); its refusals become one error."""
    try:
        PairedImageDataset(copy.deepcopy(options))
    except (AssertionError, ValueError, OSError) as error:
        raise InputError(f'{label}: BasicSR\'s PairedImageDataset cannot pair dataroot_lq {options["dataroot_lq"]!r} '
                         f'with dataroot_gt {options["dataroot_gt"]!r}: {error} (it pairs files of the same extension '
                         'in the top folder, named by filename_tmpl; LMDBs by their keys and folder names ending in '
                         '.lmdb).', key=('dataroot_lq', )) from None
