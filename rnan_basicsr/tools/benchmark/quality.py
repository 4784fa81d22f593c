"""The quality columns: PSNR (BasicSR's ``calculate_psnr``) and gradient error of a switch row against float32."""
import numpy as np


def psnr_db(a, b):
    """BasicSR's ``calculate_psnr`` of two (1, C, H, W) arrays in [0, 1] (clipped), inf when equal."""
    from basicsr.metrics import calculate_psnr

    def to_255(x):
        return np.clip(np.asarray(x, np.float64)[0], 0, 1) * 255.

    return float(calculate_psnr(to_255(a), to_255(b), crop_border=0, input_order='CHW'))


def add_quality(rows):
    """PSNR (and gradient error) of every row against the first (float32) row, from the files the children wrote:
    ``psnr_official_db`` from ``save_output``, ``psnr_trained_db`` (and ``grad_rel_error``) from ``quality_output``;
    ``rows`` are (switches, result, spec)."""
    if not rows or 'error' in rows[0][1]:
        return
    reference = rows[0][2]
    for _, result, spec in rows:
        if 'error' in result:
            continue
        if spec.quality_output:
            got, ref = np.load(spec.quality_output), np.load(reference.quality_output)
            result['psnr_trained_db'] = psnr_db(got['output'], ref['output'])
            if 'grads' in got:
                result['grad_rel_error'] = float(np.linalg.norm(got['grads'] - ref['grads']) /
                                                 np.linalg.norm(ref['grads']))
        if spec.save_output:
            result['psnr_official_db'] = psnr_db(np.load(spec.save_output), np.load(reference.save_output))
