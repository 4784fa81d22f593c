"""The degradations of the RNAN paper (docs/data.md, "The degradations"), for the datasets and generate_lq.py alike.

Images are numpy arrays in OpenCV's layout, (H, W) grey or (H, W, C) **BGR**, uint8 in [0, 255] unless a function
says otherwise; noise levels are on the 0-255 scale (``sigma=25``: 25 grey levels), never on [0, 1]."""
import cv2
import numpy as np
import zlib
from basicsr.data.transforms import mod_crop
from basicsr.utils.color_util import bgr2ycbcr
from basicsr.utils.matlab_functions import imresize


def image_rng(seed, name):
    """The generator of one image's reproducible degradation (validation, testing, generate_lq.py): it depends only
    on ``seed`` (int >= 0) and the image's key ``name`` (e.g. ``'sub/kodim01'``), through ``zlib.crc32``, so it is
    the same in every process, platform and run (Python's ``hash()`` of a string is not)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode('utf-8'))])


def add_gaussian_noise(img, sigma, rng, clip=True):
    """``img`` (uint8, or float on the 0-255 scale; any shape) + N(0, sigma^2) per pixel and channel, drawn from
    ``rng``; ``sigma`` >= 0 on the 0-255 scale.

    Returns uint8, clipped to [0, 255] and rounded (``clip``, the authors' test inputs), else float32 as drawn
    (unclipped, unrounded).
    """
    if sigma < 0:
        raise ValueError(f'sigma must be >= 0, got {sigma}')
    noisy = img.astype(np.float64) + rng.normal(0.0, float(sigma), size=img.shape)
    if clip:
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return noisy.astype(np.float32)


def to_gray(img):
    """Grey (H, W) or (H, W, 1) as it is; BGR (H, W, 3) uint8 -> (H, W, 1) by OpenCV's ``COLOR_BGR2GRAY``
    (0.299 R + 0.587 G + 0.114 B rounded: Matlab's ``rgb2gray``, no 16-235 offset unlike :func:`y_channel`)."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img
    return cv2.cvtColor(_check_uint8_bgr(img), cv2.COLOR_BGR2GRAY)[..., None]


def y_channel(img):
    """The luma of the JPEG task: grey (H, W) or (H, W, 1) as it is; BGR (H, W, 3) uint8 -> (H, W, 1) uint8 in
    [16, 235], Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 rounded (Matlab's ``rgb2ycbcr`` on uint8, by BasicSR's
    ``bgr2ycbcr(y_only=True)``)."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img
    return bgr2ycbcr(_check_uint8_bgr(img), y_only=True)[..., None]


def jpeg_compress_y(img, quality):
    """:func:`y_channel` of a uint8 image encoded as a baseline one-component JPEG by OpenCV at ``quality`` (1-100)
    and decoded again: uint8, (H, W) for 2-D input, else (H, W, 1). For the same 8-bit grey image this matches the
    authors' Matlab-made JPEG inputs bit for bit (measured on their repository's samples)."""
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f'JPEG quality must be an integer in 1..100, got {quality}')
    gray = y_channel(img)
    if gray.dtype != np.uint8:
        raise TypeError(f'jpeg_compress_y expects a uint8 image, got {gray.dtype}')
    ok, encoded = cv2.imencode('.jpg', np.ascontiguousarray(gray), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError('OpenCV failed to encode the image as JPEG')
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return decoded if gray.ndim == 2 else decoded[..., None]


def bayer_mosaic(img):
    """The GRBG Bayer mosaic of a (H, W, 3) BGR image of any dtype and size, in three channels with zeros at the
    missing samples (no interpolation): row 0 keeps G R G R ..., row 1 B G B G ...; same shape and dtype."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'bayer_mosaic needs a (H, W, 3) BGR image, got shape {img.shape}')
    blue, green, red = 0, 1, 2
    mosaic = np.zeros_like(img)
    mosaic[0::2, 0::2, green] = img[0::2, 0::2, green]
    mosaic[0::2, 1::2, red] = img[0::2, 1::2, red]
    mosaic[1::2, 0::2, blue] = img[1::2, 0::2, blue]
    mosaic[1::2, 1::2, green] = img[1::2, 1::2, green]
    return mosaic


def bicubic_downscale(img, scale):
    """uint8 (H, W[, C]) -> uint8 (H // scale, W // scale[, C]): the image cropped at its bottom and right to a
    multiple of the integer ``scale`` (BasicSR's ``mod_crop``, which also makes the matching ground truth), resized
    by 1/scale with BasicSR's ``matlab_functions.imresize`` (Matlab's antialiased bicubic), rounded and clipped."""
    scale = int(scale)
    if scale < 1:
        raise ValueError(f'scale must be a positive integer, got {scale}')
    if img.dtype != np.uint8:
        raise TypeError(f'bicubic_downscale expects a uint8 image, got {img.dtype}')
    if img.shape[0] < scale or img.shape[1] < scale:
        raise ValueError(f'image of size {img.shape[1]}x{img.shape[0]} is smaller than the scale {scale}')
    hr = mod_crop(img, scale)
    lr = imresize(hr.astype(np.float32), 1 / scale)
    return np.clip(np.round(lr), 0, 255).astype(np.uint8)


def _check_uint8_bgr(img):
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'expected a (H, W, 3) uint8 BGR image, got shape {img.shape} and dtype {img.dtype}')
    return img
