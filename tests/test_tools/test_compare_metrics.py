"""scripts/compare_metrics.py (rnan_basicsr/tools/compare_metrics.py): BasicSR's metrics against the authors' protocol
on degraded images, one row per image and case; bad input is a one-line error."""
import cv2
from conftest import synthetic_image

from rnan_basicsr.tools import compare_metrics


def test_every_case_of_every_image_is_measured(tmp_path, capsys):
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'colour.png'), synthetic_image(40, 44, 3, seed=1))
    cv2.imwrite(str(images / 'grey.png'), synthetic_image(36, 40, 1, seed=2)[..., 0])
    out = tmp_path / 'metrics.md'
    assert compare_metrics.main(['--images', str(images), '--out', str(out)]) == 0
    table = out.read_text()
    assert table.strip() in capsys.readouterr().out
    rows = [line.split(' | ') for line in table.splitlines()[2:]]
    cases = [(r[0].lstrip('| '), r[1]) for r in rows]
    assert cases == [('colour', 'dn_rgb sigma30'), ('colour', 'dn_gray sigma30'), ('colour', 'car q10'),
                     ('colour', 'sr x2'), ('colour', 'sr x4'),
                     ('colour', "sr x4, Y rounded to 8 bits (not the authors' protocol)"),
                     ('grey', 'dn_gray sigma30'), ('grey', 'car q10'), ('grey', 'sr x2'), ('grey', 'sr x4')]
    for (image, case), row in zip(cases, rows):
        psnr_ours, psnr_theirs, ssim_ours, ssim_theirs = (float(row[i]) for i in (2, 3, 5, 6))
        assert 10 < psnr_theirs < 60 and 0 < ssim_theirs < 1
        if 'rounded' in case:  # another protocol: a visible difference
            assert psnr_ours != psnr_theirs
        else:  # BasicSR follows the authors' protocol
            assert abs(psnr_ours - psnr_theirs) < 1e-4 and abs(ssim_ours - ssim_theirs) < 1e-5, (image, case)


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert compare_metrics.main(['--images', str(tmp_path / 'nowhere')]) == 2
    assert capsys.readouterr().err.strip() == (f"compare_metrics.py: error: --images {str(tmp_path / 'nowhere')!r} "
                                               'does not exist; give an image file or a folder of images.')
    cv2.imwrite(str(tmp_path / 'small.png'), synthetic_image(16, 16, 3))
    assert compare_metrics.main(['--images', str(tmp_path / 'small.png'), '--out', str(tmp_path / 'm.md')]) == 2
    assert 'images of at least 32x32 are needed' in capsys.readouterr().err
    assert not (tmp_path / 'm.md').exists()
