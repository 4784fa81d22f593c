"""JPEG compression artifact reduction on the Y channel (RNAN, ICLR 2019: quality 10, 20, 30, 40)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import jpeg_compress_y
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class JPEGArtifactDataset(DegradedImageDataset):
    """Y-channel images and their JPEG-compressed copies, for compression artifact reduction.

    As in the paper only luma is restored: colour images are reduced to their 8-bit BT.601 Y channel, grey images
    are used as they are, and the LQ is that image encoded and decoded by OpenCV's baseline JPEG
    (:func:`~rnan_basicsr.data.degradations.jpeg_compress_y`). With ``dataroot_lq``, the LQ images must be the
    compressed Y channel stored as 1-channel images (as ``generate_lq.py --task jpeg`` writes them).

    Options (besides the common ones of :class:`~rnan_basicsr.data.degraded_image_dataset.DegradedImageDataset`):
        quality (int | list[int]): JPEG quality 1-100 (e.g. 10), or ``[low, high]``: drawn uniformly per patch (per
            image, reproducibly, in validation). Required unless ``dataroot_lq`` is given.
    """

    channels = 'y'

    def degrade(self, img_gt, rng):
        return jpeg_compress_y(img_gt, self._level(self.settings.quality, rng, integer=True))
