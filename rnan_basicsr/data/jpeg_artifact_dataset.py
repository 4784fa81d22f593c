"""JPEG compression artifact reduction on the Y channel (RNAN, ICLR 2019: quality 10, 20, 30, 40)."""
from basicsr.utils.registry import DATASET_REGISTRY

from rnan_basicsr.data.degradations import jpeg_compress_y
from rnan_basicsr.data.degraded_image_dataset import DegradedImageDataset


@DATASET_REGISTRY.register()
class JPEGArtifactDataset(DegradedImageDataset):
    """Y-channel images and their JPEG-compressed copies, for compression artifact reduction.

    As in the paper, only luma is restored: colour images are reduced to the BT.601 Y channel of Matlab's
    ``rgb2ycbcr`` (BasicSR's ``bgr2ycbcr(y_only=True)``, rounded to 8 bits), grey images are used as they are, and
    the LQ is that 8-bit image encoded and decoded by OpenCV's baseline JPEG at ``quality``
    (:func:`~rnan_basicsr.data.degradations.jpeg_compress_y`), which for the same 8-bit Y matches the authors'
    Matlab-made inputs.
    With ``dataroot_lq``, the LQ images must be the compressed Y channel stored as 1-channel images (as
    ``generate_lq.py --task jpeg`` writes them). Everything else is described in
    :class:`~rnan_basicsr.data.degraded_image_dataset.DegradedImageDataset`.

    Options (besides the common ones):
        quality (int | list[int]): JPEG quality 1-100 (e.g. 10), or ``[low, high]``: drawn uniformly per patch (per
            image, reproducibly, in validation). Required unless ``dataroot_lq`` is given.

    Items: ``lq`` / ``gt`` tensors (1, H, W) float32 in [0, 1] (Y for colour sources).
    """

    channels = 'y'

    def __init__(self, opt):
        super().__init__(opt)
        quality = self.settings.quality
        self.quality_range = tuple(quality) if isinstance(quality, (list, tuple)) else (quality, quality)

    def degrade(self, img_gt, rng):
        """Decoded JPEG of a uint8 (H, W, 1) Y / grey image: uint8 (H, W, 1)."""
        low, high = self.quality_range
        quality = low if low == high else int(rng.integers(low, high, endpoint=True))
        return jpeg_compress_y(img_gt, quality)
