"""Demosaicing of the GRBG Bayer mosaic (RNAN, ICLR 2019)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import bayer_mosaic
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class DemosaicingDataset(DegradedImageDataset):
    """Colour images and their 3-channel GRBG Bayer mosaics (:func:`~rnan_basicsr.data.degradations.bayer_mosaic`),
    for demosaicing; grey images get three equal channels, and there are no options beyond the common ones.

    In training the mosaic is made after cropping and flipping, so every patch starts with G R; with
    ``dataroot_lq`` the stored mosaics are cropped and flipped with their GT as the authors did, which shifts the
    pattern's phase.
    """

    def degrade(self, img_gt, rng):
        return bayer_mosaic(img_gt)
