"""Demosaicing of the GRBG Bayer mosaic (RNAN, ICLR 2019)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import bayer_mosaic
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class DemosaicingDataset(DegradedImageDataset):
    """Colour images and their 3-channel Bayer mosaics, for demosaicing.

    The LQ is the authors' network input: the **GRBG** mosaic (row 0: G R, row 1: B G) kept in three channels with
    zeros at the missing samples, no interpolation (:func:`~rnan_basicsr.data.degradations.bayer_mosaic`). In
    training the mosaic is made after cropping and flipping, so every patch starts with G R; with ``dataroot_lq``
    the stored mosaics are cropped and flipped with their GT as the authors did, which shifts the pattern's phase.
    Grey images get three equal channels. No options beyond the common ones of
    :class:`~rnan_basicsr.data.degraded_image_dataset.DegradedImageDataset`.

    Items: ``lq`` / ``gt`` tensors (3, H, W) RGB float32 in [0, 1].
    """

    def degrade(self, img_gt, rng):
        """GRBG mosaic of a uint8 (H, W, 3) BGR image: uint8 (H, W, 3) BGR."""
        return bayer_mosaic(img_gt)
