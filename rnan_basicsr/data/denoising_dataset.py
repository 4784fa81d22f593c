"""Colour and grey denoising with additive white Gaussian noise (RNAN, ICLR 2019: sigma 10, 30, 50, 70)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import add_gaussian_noise
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class DenoisingDataset(DegradedImageDataset):
    """Clean images and copies with additive white Gaussian noise, for colour or grey denoising.

    The noise is made as the authors' released test inputs were: clean + N(0, sigma^2) on the [0, 255] scale,
    independently per pixel and channel, clipped to [0, 255] and rounded to 8 bits
    (:func:`~rnan_basicsr.data.degradations.add_gaussian_noise`). The authors trained on noisy copies made once;
    here training adds fresh noise to every patch (``dataroot_lq`` reads fixed noisy copies instead).
    Everything else (LMDB / folder, cropping, seeding, pairing, checks) is described in
    :class:`~rnan_basicsr.data.degraded_image_dataset.DegradedImageDataset`.

    Options (besides the common ones):
        sigma (float | list[float]): noise standard deviation on the **0-255 scale** (e.g. 50), or ``[low, high]``
            for blind training: drawn uniformly per patch (per image, reproducibly, in validation). Required
            unless ``dataroot_lq`` is given.
        gray (bool): False (default): 3-channel RGB items; True: 1-channel items, colour images converted with
            :func:`~rnan_basicsr.data.degradations.to_gray` (grey images are used as they are).
        clip (bool): True (default, the authors' test inputs): the noisy image is clipped to [0, 255] and rounded;
            False: unclipped, unrounded noise (``lq`` may then leave [0, 1]).

    Items: ``lq`` / ``gt`` tensors (3, H, W) RGB or (1, H, W), float32 in [0, 1].
    """

    @classmethod
    def num_channels(cls, opt):
        return 1 if cls.declared(opt).gray else 3

    @classmethod
    def channels_reason(cls, opt):
        return f'DenoisingDataset with gray: {"true" if cls.declared(opt).gray else "false (RGB)"}'

    def __init__(self, opt):
        super().__init__(opt)
        self.channels = 'gray' if self.settings.gray else 'color'
        self.clip = self.settings.clip
        sigma = self.settings.sigma
        self.sigma_range = tuple(sigma) if isinstance(sigma, (list, tuple)) else (sigma, sigma)

    def degrade(self, img_gt, rng):
        """Noisy copy of a uint8 (H, W, C) image: uint8 (clip) or float32 on the 0-255 scale (no clip)."""
        low, high = self.sigma_range
        sigma = low if low == high else rng.uniform(low, high)
        return add_gaussian_noise(img_gt, sigma, rng, clip=self.clip)
