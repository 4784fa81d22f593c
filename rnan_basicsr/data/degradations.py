"""The degradations of the RNAN paper, made as the authors made their test inputs (one implementation of each).

Used by the datasets (on the fly in training, seeded per image for validation) and by
``scripts/data_preparation/generate_lq.py`` (fixed test inputs), so both give the same images.

Conventions: images are numpy arrays in OpenCV's layout, ``(H, W)`` for grey or ``(H, W, C)`` with channels in
**BGR** order for colour, ``uint8`` in [0, 255] unless a function says otherwise. Noise levels are on the 0-255
scale (``sigma=25`` means a standard deviation of 25 grey levels), never on [0, 1].

- Gaussian noise (colour and grey denoising): clean + N(0, sigma^2), clipped to [0, 255] and rounded to uint8 as
  in the authors' released noisy test images (clipping can be switched off).
- JPEG (artifact reduction): the Y channel (ITU-R BT.601 as Matlab's ``rgb2ycbcr``, BasicSR's
  ``bgr2ycbcr(y_only=True)``) rounded to 8 bits, encoded and decoded with OpenCV's baseline JPEG at a quality;
  a grey image is encoded as it is.
- Bayer mosaic (demosaicing): the 3-channel GRBG mosaic with zeros at the missing samples.
- Bicubic down-scaling (super-resolution): Matlab's ``imresize`` (BasicSR's ``matlab_functions.imresize``) of the
  HR cropped to a multiple of the scale (BasicSR's ``mod_crop``).
"""
import cv2
import numpy as np
import zlib
from basicsr.data.transforms import mod_crop
from basicsr.utils.color_util import bgr2ycbcr
from basicsr.utils.matlab_functions import imresize

BAYER_PATTERN = 'GRBG'  # row 0: G R, row 1: B G (the authors' demosaicing inputs)


def image_rng(seed, name):
    """The random generator of one image for reproducible degradations (validation, testing, generate_lq.py).

    The stream depends only on ``seed`` and the image's ``name`` (its key: the path relative to the data root
    without extension, with ``/`` separators), through ``zlib.crc32``, so it is the same in every process, worker,
    platform and run (Python's ``hash()`` of a string is not).

    Args:
        seed (int): a non-negative seed (the dataset's ``seed`` option, generate_lq.py's ``--seed``).
        name (str): the image's key, e.g. ``'0801'`` or ``'sub/kodim01'``.

    Returns:
        numpy.random.Generator
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode('utf-8'))])


def add_gaussian_noise(img, sigma, rng, clip=True):
    """Add white Gaussian noise of standard deviation ``sigma`` (0-255 scale) to every pixel and channel.

    Args:
        img (ndarray): clean image, (H, W) or (H, W, C), uint8 in [0, 255] (or a float array on the same scale).
        sigma (float): noise standard deviation on the 0-255 scale, >= 0.
        rng (numpy.random.Generator): source of the noise; the same generator state gives the same noise.
        clip (bool): True (the authors' test inputs): clip to [0, 255] and round to uint8. False: the noisy values
            as they are, unclipped and unrounded.

    Returns:
        ndarray: same shape as ``img``; uint8 in [0, 255] when ``clip``, else float32 on the 0-255 scale (values
        can be below 0 or above 255).
    """
    if sigma < 0:
        raise ValueError(f'sigma must be >= 0, got {sigma}')
    noisy = img.astype(np.float64) + rng.normal(0.0, float(sigma), size=img.shape)
    if clip:
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return noisy.astype(np.float32)


def to_gray(img):
    """A grey image: (H, W) and (H, W, 1) are returned as they are; BGR (H, W, 3) uint8 is converted.

    The conversion is OpenCV's ``COLOR_BGR2GRAY``: 0.299 R + 0.587 G + 0.114 B, rounded, the weights of Matlab's
    ``rgb2gray`` (no 16-235 offset, unlike :func:`y_channel`). The number of dimensions is kept: (H, W, 3) gives
    (H, W, 1).
    """
    if img.ndim == 2 or img.shape[2] == 1:
        return img
    return cv2.cvtColor(_check_uint8_bgr(img), cv2.COLOR_BGR2GRAY)[..., None]


def y_channel(img):
    """The luma the JPEG task works on: grey images as they are, the BT.601 Y channel of colour ones.

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 255], rounded to uint8: Matlab's
    ``rgb2ycbcr`` on uint8 images, computed by BasicSR's ``bgr2ycbcr(y_only=True)``.

    Args:
        img (ndarray): uint8, (H, W) or (H, W, 1) grey, or (H, W, 3) BGR.

    Returns:
        ndarray: uint8 in [16, 235] for colour input (the grey input unchanged), (H, W) for 2-D input, else (H, W, 1).
    """
    if img.ndim == 2 or img.shape[2] == 1:
        return img
    return bgr2ycbcr(_check_uint8_bgr(img), y_only=True)[..., None]


def jpeg_compress_y(img, quality):
    """JPEG-compress the Y channel (or the grey image) at ``quality`` and decode it again, with OpenCV.

    A colour image is first reduced to :func:`y_channel`; the 8-bit grey image is then encoded as a baseline
    one-component JPEG by OpenCV (libjpeg's standard quantisation tables scaled by ``quality``); for the same 8-bit
    grey image this matches the authors' Matlab-made JPEG inputs bit for bit (measured on their repository's samples).

    Args:
        img (ndarray): uint8, (H, W) or (H, W, 1) grey, or (H, W, 3) BGR.
        quality (int): JPEG quality, 1-100 (the paper: 10, 20, 30, 40).

    Returns:
        ndarray: the decoded JPEG, uint8 in [0, 255]; (H, W) for 2-D input, else (H, W, 1).
    """
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
    """The 3-channel Bayer mosaic with pattern GRBG and zeros at the missing samples (no interpolation).

    Pixel (y, x) keeps one colour: G where y and x are both even or both odd, R where y is even and x odd, B where
    y is odd and x even (row 0: G R G R ..., row 1: B G B G ...); its other two channels are 0.

    Args:
        img (ndarray): (H, W, 3) in **BGR** channel order (OpenCV's), any dtype; any H and W.

    Returns:
        ndarray: (H, W, 3) BGR, same dtype as ``img``.
    """
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
    """Matlab-style bicubic down-scaling by an integer ``scale`` of the image cropped to a multiple of ``scale``.

    The HR is first cropped at its bottom and right to a multiple of ``scale`` (BasicSR's ``mod_crop``; the matching
    ground truth is ``mod_crop(img, scale)``), then resized by 1/scale with BasicSR's ``matlab_functions.imresize``
    (Matlab's ``imresize(..., 'bicubic')`` with antialiasing), rounded and clipped to uint8 as Matlab does for uint8
    images.

    Args:
        img (ndarray): uint8, (H, W) or (H, W, C) (any channel order; channels are resized independently).
        scale (int): 2, 3, 4, ...

    Returns:
        ndarray: uint8, (H // scale, W // scale[, C]).
    """
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
