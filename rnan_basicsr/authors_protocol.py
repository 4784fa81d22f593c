"""The authors' evaluation protocol (their Matlab scripts) written again in numpy and scikit-image, only to measure
how far BasicSR's ``calculate_psnr`` / ``calculate_ssim`` (what this project reports) are from it
(scripts/compare_metrics.py; the formulas side by side and the measurements: docs/paper.md).

Source: github.com/yulunzhang/RNAN, ``SR/experiment/PP_Evaluate_SR.m`` and
``DN_Gray/experiment/PP_Evaluate_DN_Gray_PSNR_SSIM.m`` (commit 751567c). Only DN_Gray's copy of the script is in the
repository; its three-channel branch (PSNR of the mean of the channels' MSE, mean of the channels' SSIM) stands for
the colour tasks. SSIM is Wang's ``ssim_index``: scikit-image's ``structural_similarity`` with ``gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255``, an implementation independent of BasicSR's.
"""
import numpy as np

from rnan_basicsr.tasks import TASKS


def matlab_y(img):
    """The Y channel as ``PP_Evaluate_SR.m`` computes it: ``single(rgb2ycbcr(im2double(img)))`` times 255, float32
    (H, W) on the 0-255 scale, not rounded, of a uint8 (H, W, 3) **BGR** image ((H, W) / (H, W, 1) grey: as it is)."""
    from skimage.color import rgb2ycbcr

    if img.ndim == 2 or img.shape[2] == 1:
        return img.reshape(img.shape[:2]).astype(np.float32)
    y01 = (rgb2ycbcr(img[..., ::-1])[..., 0] / 255).astype(np.float32)  # skimage gives Matlab's Y x 255
    return y01 * np.float32(255)


def _channels(restored, gt, task, scale):
    """The (H, W, C) float64 planes the task's script compares, border shaved."""
    spec = TASKS[task]
    if spec.y_channel:
        restored, gt = matlab_y(restored), matlab_y(gt)
    elif spec.channels == 1:
        restored, gt = (img[..., 0] if img.ndim == 3 else img for img in (restored, gt))
    restored, gt = (np.atleast_3d(img).astype(np.float64) for img in (restored, gt))
    if spec.crop_border and scale > 1:
        restored, gt = (img[scale:-scale, scale:-scale] for img in (restored, gt))
    return restored, gt


def authors_psnr(restored, gt, task, scale=1):
    """PSNR (dB) by the authors' script of ``task`` (a key of TASKS): ``10 log10(255^2 / mse)``, ``mse`` the mean of
    the channels' MSE, of uint8 (H, W[, C]) images of one size (colour BGR); ``scale``: SR's shaved border."""
    restored, gt = _channels(restored, gt, task, scale)
    mse = np.mean([np.mean((restored[..., c] - gt[..., c])**2) for c in range(gt.shape[2])])
    return float(10 * np.log10(255.**2 / mse))


def authors_ssim(restored, gt, task, scale=1):
    """SSIM by the authors' script of ``task``: Wang's ``ssim_index`` per channel, averaged (arguments as
    :func:`authors_psnr`)."""
    from skimage.metrics import structural_similarity

    restored, gt = _channels(restored, gt, task, scale)
    return float(np.mean([
        structural_similarity(gt[..., c], restored[..., c], gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255) for c in range(gt.shape[2])
    ]))


_SAME = 'the same formula'
#: per task: the authors' script's metric, and where BasicSR's (what this project reports) can differ from it
PROTOCOL_NOTES = {
    'sr': ("Y of Matlab's rgb2ycbcr on doubles (not rounded, cast to float32), `scale` pixels shaved, Wang's "
           "ssim_index; BasicSR's bgr2ycbcr on float32 is the same Y (not rounded) in single precision and "
           "calculate_ssim the same 11x11 Gaussian-window SSIM (a Y rounded to 8 bits, as some SR scripts make it, "
           "would differ)"),
    'car': ("one channel (the Y images), no shave; BasicSR: " + _SAME + ' (a grey image is taken as Y)'),
    'dn_gray': ("one channel, no shave; BasicSR: " + _SAME),
    'dn_rgb': ("RGB, no shave, PSNR of the mean of the three channels' MSE, SSIM the mean of the three channels' "
               "ssim_index; BasicSR's MSE over all channels is that mean, its SSIM the same per-channel mean"),
}
PROTOCOL_NOTES['demosaic'] = PROTOCOL_NOTES['dn_rgb']


def protocol_note(task):
    """One line: the authors' metric of ``task`` and how BasicSR's compares (measured by scripts/compare_metrics.py)."""
    return (f"The paper's numbers come from the authors' Matlab scripts (PP_Evaluate_*.m): {PROTOCOL_NOTES[task]}; "
            'the difference measured on images: python scripts/compare_metrics.py (docs/paper.md).')
