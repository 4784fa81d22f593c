"""The common base of the denoising, JPEG and demosaicing datasets: ground truth in, a degraded copy made from it.
Not registered itself; each ``*_dataset.py`` adds one :meth:`DegradedImageDataset.degrade` (keys: docs/options.md)."""
import numpy as np
import random
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, img2tensor
from torch.utils import data as data

from rnan_basicsr.data.data_util import convert_channels, decode_image
from rnan_basicsr.data.degradations import image_rng
from rnan_basicsr.data.pairing import check_sizes, pair_images
from rnan_basicsr.options.dataset_rules import PHASES, check_dataset_options, dataset_label
from rnan_basicsr.options.registered import options_model
from rnan_basicsr.utils.errors import InputError


class DegradedImageDataset(data.Dataset):
    """Ground-truth images and degraded copies for restoration at scale 1, as docs/data.md ("Dataset options")
    describes; every file is checked when the dataset is built (:func:`~rnan_basicsr.data.pairing.pair_images`).

    Training patches (BasicSR's ``paired_random_crop`` and ``augment``) and their levels are drawn from Python's
    ``random``, which BasicSR seeds from ``manual_seed`` per process and data-loader worker; validation / test images
    are degraded from :func:`~rnan_basicsr.data.degradations.image_rng` (``seed``, the key), as generate_lq.py does.
    Items: ``{'lq', 'gt', 'lq_path', 'gt_path'}``, tensors (C, H, W) float32 in [0, 1] (RGB, or C = 1); ``lq_path``
    is the GT's path (or LMDB key) when the LQ is made on the fly.
    """

    #: the task's channels (:func:`~rnan_basicsr.data.data_util.convert_channels`): 'color' (BGR), 'gray' or 'y'
    channels = 'color'

    @classmethod
    def declared(cls, opt):
        """``opt`` read as this class's declared options (their defaults filled in), unchecked."""
        return options_model('dataset', cls.__name__).model_construct(**opt)

    @classmethod
    def num_channels(cls, opt):
        """Channels C of the items' ``lq`` and ``gt`` tensors for these options (for cross-checks with the network)."""
        return 3 if cls.channels == 'color' else 1

    @classmethod
    def channels_reason(cls, opt):
        """Why :meth:`num_channels` is what it is, in the words of an error message."""
        return {'color': f'{cls.__name__} (RGB)', 'y': f'{cls.__name__} restores the Y channel',
                'gray': f'{cls.__name__} (grey)'}[cls.channels]

    def __init__(self, opt):
        super().__init__()
        # checked here too for Python users who build a dataset directly: a sigma on the [0, 1] scale or a typo in
        # an option would otherwise train silently on the wrong data
        #: the declared options (options/schema.py), defaults filled in: every setting is read from here
        self.settings = settings = check_dataset_options(type(self), opt)
        self.label = dataset_label(opt)
        if opt.get('phase') not in PHASES:
            raise InputError(f'{self.label}: phase is missing; BasicSR sets it from the datasets key (train / val / '
                             'test). When building the dataset by hand, add phase: train or phase: val.')
        self.opt = opt
        self.is_train = opt['phase'] == 'train'
        self.io_backend_opt = settings.io_backend.model_dump()
        self.file_client = None
        pairs = pair_images(self.label, settings.dataroot_gt, settings.dataroot_lq, settings.io_backend.type,
                            settings.filename_tmpl, settings.meta_info_file,
                            fix_missing='Put the matching LQ images there (generate_lq.py makes them), or remove '
                            'dataroot_lq to degrade on the fly.')
        check_sizes(pairs, self.label, gt_size=settings.gt_size if self.is_train else None,
                    fix='Regenerate the LQ image from this GT (generate_lq.py).')
        #: ``{'key', 'gt_path', 'lq_path'}`` per image (lq_path None without dataroot_lq)
        self.paths = [{'key': pair.key, 'gt_path': pair.gt_path, 'lq_path': pair.lq_path} for pair in pairs]

    def degrade(self, img_gt, rng):
        """The degraded input of a uint8 (H, W, C) GT image or patch (BGR when C = 3): (H, W, C), uint8 or float32
        on the 0-255 scale. ``rng`` (numpy.random.Generator) is its only randomness (fresh per patch in training,
        seeded per image otherwise)."""
        raise NotImplementedError

    def _level(self, level, rng, integer=False):
        """The level of one patch or image: the option's number, or one drawn uniformly from its ``[low, high]``
        (with ``integer``, an int from low to high inclusive)."""
        low, high = level if isinstance(level, (list, tuple)) else (level, level)
        if low == high:
            return low
        return int(rng.integers(low, high, endpoint=True)) if integer else rng.uniform(low, high)

    def _read(self, path, client_key, convert=True):
        """The decoded image, brought to the task's channels (``convert``) or as decoded: (H, W, 1) grey or
        (H, W, 3) BGR uint8 (training converts the patch only)."""
        roots = {'gt': self.settings.dataroot_gt, 'lq': self.settings.dataroot_lq}
        lmdb = self.io_backend_opt['type'] == 'lmdb'
        if self.file_client is None:
            backend_opt = dict(self.io_backend_opt)
            backend = backend_opt.pop('type')  # a copy: self.opt is never changed
            if lmdb:
                keys = [key for key, root in roots.items() if root is not None]
                backend_opt.update(db_paths=[roots[key] for key in keys], client_keys=keys)
            self.file_client = FileClient(backend, **backend_opt)
        try:
            content = self.file_client.get(path, client_key)
        except OSError as error:
            raise InputError(f'{self.label}: cannot read image {path!r}: {error.strerror or error}') from None
        where = f'{path!r} in {roots[client_key]!r}' if lmdb else repr(path)
        img = decode_image(content, f'{where} ({client_key} of {self.label})')
        if convert:
            return convert_channels(img, self.channels)
        return img if img.ndim == 3 else img[..., None]

    def __getitem__(self, index):
        """Training: crop and augment the decoded image first, then convert and degrade the patch only (the
        conversions are per pixel, so this equals converting the whole image first, at a fraction of the cost).
        Validation / test: the whole image."""
        entry = self.paths[index]
        img_gt = self._read(entry['gt_path'], 'gt', not self.is_train)
        img_lq = self._read(entry['lq_path'], 'lq', not self.is_train) if entry['lq_path'] is not None else None
        if img_lq is not None and img_lq.shape[:2] != img_gt.shape[:2]:
            raise InputError(f'{self.label}: LQ image {entry["lq_path"]!r} is {img_lq.shape[1]}x{img_lq.shape[0]} '
                             f'but its GT {entry["gt_path"]!r} is {img_gt.shape[1]}x{img_gt.shape[0]}; both must '
                             'have the same size.')
        if self.is_train:
            gt_size, hflip, rot = self.settings.gt_size, self.settings.use_hflip, self.settings.use_rot
            if min(img_gt.shape[:2]) < gt_size:
                raise InputError(f'{self.label}: GT image {entry["gt_path"]!r} is {img_gt.shape[1]}x'
                                 f'{img_gt.shape[0]}, smaller than gt_size {gt_size}. Remove it or lower gt_size.')
            if img_lq is None:
                img_gt = paired_random_crop(img_gt, img_gt, gt_size, 1, entry['gt_path'])[0]
                img_gt = augment(np.ascontiguousarray(img_gt), hflip, rot)
            else:
                img_gt, img_lq = paired_random_crop(img_gt, img_lq, gt_size, 1, entry['gt_path'])
                img_gt, img_lq = augment([np.ascontiguousarray(img_gt), np.ascontiguousarray(img_lq)], hflip, rot)
                img_lq = convert_channels(img_lq, self.channels)
            img_gt = convert_channels(img_gt, self.channels)
            rng = np.random.default_rng(random.getrandbits(64))
        else:
            rng = image_rng(self.settings.seed, entry['key'])
        if img_lq is None:
            img_lq = self.degrade(img_gt, rng)
        img_gt, img_lq = img2tensor([img_gt.astype(np.float32) / 255., img_lq.astype(np.float32) / 255.], bgr2rgb=True)
        lq_path = entry['lq_path'] or entry['gt_path']
        return {'lq': img_lq, 'gt': img_gt, 'lq_path': lq_path, 'gt_path': entry['gt_path']}

    def __len__(self):
        return len(self.paths)
