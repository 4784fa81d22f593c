"""The AUTHORS' evaluation protocol (their Matlab scripts), written again in numpy and scikit-image, only to MEASURE
how far the figures this project reports (BasicSR's ``calculate_psnr`` / ``calculate_ssim``, rnan_basicsr/tools/
evaluate.py ``score``) are from those the paper's protocol gives on the same images (scripts/compare_metrics.py).

Source: github.com/yulunzhang/RNAN, ``SR/experiment/PP_Evaluate_SR.m`` and
``DN_Gray/experiment/PP_Evaluate_DN_Gray_PSNR_SSIM.m`` (commit 751567c):

* super-resolution: ``Y = single(rgb2ycbcr(im2double(img)))(:, :, 1) * 255`` (Matlab's BT.601 on doubles: not
  rounded, then cast to float32), ``scale`` pixels shaved from every border, PSNR from the MSE of Y, SSIM by
  ``ssim_index`` (Zhou Wang's 2003 code: 11x11 Gaussian window of sigma 1.5, K = (0.01, 0.03), L = 255, 'valid'
  filtering, no down-sampling);
* colour images (denoising, demosaicing; ``csnr`` / ``Cal_PSNRSSIM`` with three channels): no shave, PSNR of the
  MEAN OF THE THREE CHANNELS' MSE (``mse = (me1 + me2 + me3) / 3``), SSIM the mean of the three channels'
  ``ssim_index``. (Only DN_Gray's copy of the script is in the repository; its three-channel branch is used here for
  the colour tasks, as the notes of the authors' other task folders describe.)
* grey images (grey denoising, JPEG on Y images): one channel (the first of a 3-channel output), no shave.

scikit-image implements both Matlab pieces (its ``rgb2ycbcr`` is Matlab's on doubles; its ``structural_similarity``
with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255`` is Wang's ``ssim_index``,
as its documentation states), an implementation independent of BasicSR's; it is already installed as a
requirement of BasicSR.
"""
import numpy as np

from rnan_basicsr.tasks import TASKS


def matlab_y(img):
    """The Y channel as ``PP_Evaluate_SR.m`` computes it: ``single(rgb2ycbcr(im2double(img)))`` times 255.

    Args:
        img (ndarray): uint8 (H, W, 3) in **BGR** order (OpenCV's), or (H, W) / (H, W, 1) grey, returned as float32.

    Returns:
        ndarray: float32 (H, W) on the 0-255 scale (16-235 for colour input), not rounded.
    """
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
    """PSNR (dB) by the authors' script of ``task``: ``10 log10(255^2 / mse)``, ``mse`` the mean of the channels' MSE.

    Args:
        restored, gt (ndarray): uint8 images of the same size, (H, W[, C]), colour in BGR order.
        task (str): a key of :data:`rnan_basicsr.tasks.TASKS`.
        scale (int): super-resolution factor (the shaved border); 1 for the other tasks.
    """
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
