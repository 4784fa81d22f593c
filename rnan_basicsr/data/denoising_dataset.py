"""Colour and grey denoising with additive white Gaussian noise (RNAN, ICLR 2019: sigma 10, 30, 50, 70)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import add_gaussian_noise
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class DenoisingDataset(DegradedImageDataset):
    """Clean images and noisy copies (:func:`~rnan_basicsr.data.degradations.add_gaussian_noise`; ``sigma`` on the
    0-255 scale or a ``[low, high]`` range, ``clip``), RGB or grey (``gray``, by
    :func:`~rnan_basicsr.data.degradations.to_gray`). The authors trained on noisy copies made once; here every
    patch gets fresh noise (``dataroot_lq``: fixed noisy copies)."""

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
