"""The authors' Matlab protocol written again (rnan_basicsr/authors_protocol.py): their formulas, and the agreement with
BasicSR's metrics that docs/paper.md reports."""
import numpy as np
from conftest import synthetic_image

from rnan_basicsr.authors_protocol import authors_psnr, authors_ssim, matlab_y, protocol_note
from rnan_basicsr.tasks import TASKS


def _noisy(img, sigma, seed):
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(np.round(img + noise), 0, 255).astype(np.uint8)


def test_y_is_matlabs_rgb2ycbcr_on_doubles_not_rounded():
    bgr = synthetic_image(16, 16, 3, seed=1)
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    expected = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    y = matlab_y(bgr)
    assert y.dtype == np.float32 and y.shape == (16, 16)
    assert np.abs(y - expected).max() < 1e-3
    assert np.abs(y - np.round(y)).max() > 0.1  # not rounded to 8 bits


def test_colour_psnr_is_that_of_the_mean_of_the_channels_mse():
    gt = synthetic_image(24, 24, 3, seed=2)
    restored = gt.copy()
    restored[..., 0] = _noisy(gt[..., 0], 20, 0)  # errors in one channel only
    channel_mse = [np.mean((restored[..., c].astype(np.float64) - gt[..., c])**2) for c in range(3)]
    expected = 10 * np.log10(255**2 / np.mean(channel_mse))
    assert abs(authors_psnr(restored, gt, 'dn_rgb') - expected) < 1e-9
    # not the mean of the channels' PSNR (the commented-out variant of their csnr): infinite here
    assert np.isfinite(authors_psnr(restored, gt, 'demosaic'))


def test_sr_shaves_scale_pixels_and_grey_tasks_take_one_channel():
    gt = synthetic_image(40, 40, 3, seed=3)
    restored = _noisy(gt, 10, 1)
    shaved = authors_psnr(restored, gt, 'sr', 4)
    restored[:4] = 255 - restored[:4]  # a wrong border is not scored with x4
    assert authors_psnr(restored, gt, 'sr', 4) == shaved
    assert authors_psnr(restored, gt, 'sr', 2) < shaved - 1
    grey = synthetic_image(32, 32, 1, seed=4)[..., 0]
    noisy = _noisy(grey, 15, 2)
    as_colour = np.repeat(noisy[..., None], 3, axis=2)  # a grey output saved as 3 channels: the first is used
    assert authors_psnr(as_colour, grey, 'dn_gray') == authors_psnr(noisy, grey, 'dn_gray')


def test_ssim_is_wangs_and_agrees_with_basicsr():
    from basicsr.metrics import calculate_ssim

    gt = synthetic_image(48, 48, 3, seed=5)
    noisy = _noisy(gt, 25, 3)
    assert authors_ssim(gt, gt, 'dn_rgb') == 1.0
    ours = calculate_ssim(noisy, gt, 0, input_order='HWC')
    assert 0.1 < ours < 0.99 and abs(authors_ssim(noisy, gt, 'dn_rgb') - ours) < 1e-6


def test_every_task_has_a_protocol_note():
    for key in TASKS:
        assert protocol_note(key).startswith("The paper's numbers come from the authors' Matlab scripts")
