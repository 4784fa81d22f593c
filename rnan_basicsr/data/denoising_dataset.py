"""Colour and grey denoising with additive white Gaussian noise (RNAN, ICLR 2019: sigma 10, 30, 50, 70)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import add_gaussian_noise
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class DenoisingDataset(DegradedImageDataset):
    """Clean images and copies with additive white Gaussian noise, for colour or grey denoising.

    The noise is made as the authors' released test inputs were
    (:func:`~rnan_basicsr.data.degradations.add_gaussian_noise`); the authors trained on noisy copies made once, here
    training adds fresh noise to every patch (``dataroot_lq`` reads fixed noisy copies instead).

    Options (besides the common ones of :class:`~rnan_basicsr.data.degraded_image_dataset.DegradedImageDataset`):
        sigma (float | list[float]): noise standard deviation on the **0-255 scale** (e.g. 50), or ``[low, high]``
            for blind training, drawn uniformly per patch (per image, reproducibly, in validation). Required
            unless ``dataroot_lq`` is given.
        gray (bool): False (default): 3-channel RGB items; True: 1-channel items, colour images converted with
            :func:`~rnan_basicsr.data.degradations.to_gray`.
        clip (bool): True (default): noisy images clipped to [0, 255] and rounded; False: ``lq`` may leave [0, 1].
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

    def degrade(self, img_gt, rng):
        return add_gaussian_noise(img_gt, self._level(self.settings.sigma, rng), rng, clip=self.settings.clip)
