"""The paper's degradations (rnan_basicsr/data/degradations.py): noise statistics, JPEG of Y, GRBG mosaic, bicubic."""
import cv2
import numpy as np
import pytest
from conftest import synthetic_image

from rnan_basicsr.data.degradations import (add_gaussian_noise, bayer_mosaic, bicubic_downscale, image_rng,
                                            jpeg_compress_y, to_gray, y_channel)


@pytest.mark.parametrize('sigma', [10, 30, 50])
def test_noise_residual_std_is_sigma_on_the_0_255_scale(sigma):
    clean = np.full((128, 128, 3), 128, np.uint8)  # mid-grey: clipping barely touches sigma <= 50
    noisy = add_gaussian_noise(clean, sigma, np.random.default_rng(0))
    assert noisy.dtype == np.uint8 and noisy.shape == clean.shape
    residual = noisy.astype(np.float64) - clean
    assert abs(residual.std() - sigma) < 0.03 * sigma
    assert abs(residual.mean()) < 0.5
    assert np.all(residual == np.round(residual))  # rounded to 8 bits like the authors' PNG inputs
    # independent noise per channel
    assert not np.array_equal(residual[..., 0], residual[..., 1])


def test_noise_clipping_is_switchable():
    dark = np.full((64, 64), 5, np.uint8)
    clipped = add_gaussian_noise(dark, 50, np.random.default_rng(1), clip=True)
    raw = add_gaussian_noise(dark, 50, np.random.default_rng(1), clip=False)
    assert clipped.dtype == np.uint8 and clipped.min() == 0
    assert raw.dtype == np.float32 and raw.min() < -50 and raw.max() > 60
    assert not np.all(raw == np.round(raw))
    # the clipped image is exactly the clipped, rounded unclipped one (same noise)
    np.testing.assert_array_equal(clipped, np.clip(np.round(raw.astype(np.float64)), 0, 255))
    assert abs((raw - 5).std() - 50) < 2
    with pytest.raises(ValueError):
        add_gaussian_noise(dark, -1, np.random.default_rng(0))


def test_noise_is_reproducible_per_seed_and_name():
    clean = synthetic_image(32, 32)
    first = add_gaussian_noise(clean, 25, image_rng(0, 'kodim01'))
    np.testing.assert_array_equal(first, add_gaussian_noise(clean, 25, image_rng(0, 'kodim01')))
    assert not np.array_equal(first, add_gaussian_noise(clean, 25, image_rng(1, 'kodim01')))
    assert not np.array_equal(first, add_gaussian_noise(clean, 25, image_rng(0, 'kodim02')))
    # The stream is derived with zlib.crc32, never hash(), so it is the same in every process and run: these raw
    # PCG64 outputs were recorded once and must never change (they would change the generated test inputs).
    assert image_rng(0, 'kodim01').bit_generator.random_raw(2).tolist() == [9833258316616139550, 12030918030751695525]
    assert image_rng(7, 'sub/0801').bit_generator.random_raw(1).tolist() == [1969560401187390047]


def test_y_channel_is_matlab_rgb2ycbcr_bt601():
    img = synthetic_image(20, 24, seed=3)
    b, g, r = (img[..., i].astype(np.float64) for i in range(3))
    expected = np.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)
    y = y_channel(img)
    assert y.shape == (20, 24, 1) and y.dtype == np.uint8
    assert np.abs(y[..., 0].astype(np.float64) - expected).max() <= 1  # float32 arithmetic may flip a .5
    assert np.mean(y[..., 0] == expected) > 0.99
    gray = img[..., 0]
    assert y_channel(gray) is gray  # grey images are used as they are (no 16-235 offset)


def test_to_gray_uses_rgb2gray_weights():
    img = synthetic_image(16, 16, seed=4)
    b, g, r = (img[..., i].astype(np.float64) for i in range(3))
    gray = to_gray(img)
    assert gray.shape == (16, 16, 1) and gray.dtype == np.uint8
    assert np.abs(gray[..., 0] - (0.299 * r + 0.587 * g + 0.114 * b)).max() <= 1


@pytest.mark.parametrize('quality', [10, 40])
def test_jpeg_equals_an_opencv_encode_decode_of_the_y_channel(quality):
    img = synthetic_image(40, 56, seed=5)
    y = y_channel(img)[..., 0]
    ok, encoded = cv2.imencode('.jpg', y, [cv2.IMWRITE_JPEG_QUALITY, quality])
    expected = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    out = jpeg_compress_y(img, quality)
    assert out.shape == (40, 56, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], expected)
    assert not np.array_equal(out[..., 0], y)  # it did compress
    # a grey image is encoded as it is, keeping its shape
    gray = img[..., 1]
    ok, encoded = cv2.imencode('.jpg', gray, [cv2.IMWRITE_JPEG_QUALITY, quality])
    np.testing.assert_array_equal(jpeg_compress_y(gray, quality), cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED))


def test_jpeg_quality_orders_the_error():
    img = synthetic_image(48, 48, seed=6)
    y = y_channel(img).astype(np.float64)
    errors = [np.abs(jpeg_compress_y(img, q) - y).mean() for q in (10, 40, 95)]
    assert errors[0] > errors[1] > errors[2]
    with pytest.raises(ValueError):
        jpeg_compress_y(img, 0)


def test_bayer_mosaic_is_grbg_with_zeros():
    img = np.random.default_rng(0).integers(1, 256, size=(5, 7, 3), dtype=np.uint8)  # no zeros, odd size
    mosaic = bayer_mosaic(img)
    assert mosaic.shape == img.shape and mosaic.dtype == img.dtype
    rgb_img, rgb_mosaic = img[..., ::-1], mosaic[..., ::-1]
    colour_at = {(0, 0): 1, (0, 1): 0, (1, 0): 2, (1, 1): 1}  # RGB index kept at (y % 2, x % 2): G R / B G
    for y in range(5):
        for x in range(7):
            kept = colour_at[(y % 2, x % 2)]
            for c in range(3):
                expected = rgb_img[y, x, c] if c == kept else 0
                assert rgb_mosaic[y, x, c] == expected, (y, x, c)
    assert np.count_nonzero(mosaic) == 5 * 7  # exactly one sample per pixel, no interpolation
    with pytest.raises(ValueError):
        bayer_mosaic(img[..., 0])


def test_bicubic_downscale_crops_to_a_multiple_and_antialiases():
    img = synthetic_image(50, 47, seed=7)
    lr = bicubic_downscale(img, 3)
    assert lr.shape == (16, 15, 3) and lr.dtype == np.uint8
    assert bicubic_downscale(np.full((12, 12), 77, np.uint8), 4).tolist() == np.full((3, 3), 77).tolist()
    # antialiasing: Matlab widens the cubic kernel by the scale, so white noise shrinks far more than under plain
    # bicubic sampling (OpenCV's INTER_CUBIC keeps about 0.7 of it at x4)
    noise = np.clip(np.random.default_rng(0).normal(128, 40, (64, 64)), 0, 255).astype(np.uint8)
    plain = cv2.resize(noise, (16, 16), interpolation=cv2.INTER_CUBIC)
    assert bicubic_downscale(noise, 4).std() < 0.4 * plain.std()
