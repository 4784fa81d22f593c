"""JPEG compression artifact reduction on the Y channel (RNAN, ICLR 2019: quality 10, 20, 30, 40)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import jpeg_compress_y
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class JPEGArtifactDataset(DegradedImageDataset):
    """Y-channel images (grey ones as they are) and their JPEG copies at ``quality`` (1-100, or a ``[low, high]``
    range) by :func:`~rnan_basicsr.data.degradations.jpeg_compress_y`: only luma is restored, as in the paper. With
    ``dataroot_lq`` the LQ images must be the compressed Y stored as 1-channel images (as generate_lq.py writes)."""

    channels = 'y'

    def degrade(self, img_gt, rng):
        return jpeg_compress_y(img_gt, self._level(self.settings.quality, rng, integer=True))
