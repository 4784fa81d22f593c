"""rnan_basicsr/tools/results.py: the one writer of evaluate's and reproduce_paper's table.md, table.csv,
per_image.csv and report.html, from named per-image records."""
import math
import pytest

from rnan_basicsr.tools.results import HtmlTable, ImageRecord, SetResult, mean, per_image_text, write_results


def _set(dataset, level, records):
    images = {record.name: ({'gt': 'report_files/gt.png'}, (4, 4)) for record in records}
    return SetResult(dataset, level, 1, records, None, images)


def test_records_are_read_by_name():
    records = [ImageRecord('a', 30.0, 0.8, {'chopped_psnr': 29.5, 'chopped_ssim': 0.79}),
               ImageRecord('b', 32.0, 0.9, {'chopped_psnr': 31.0, 'chopped_ssim': 0.88})]
    assert mean(records, 'psnr') == pytest.approx(31.0)
    assert mean(records, 'ssim') == pytest.approx(0.85)
    assert mean(records, 'chopped_psnr') == pytest.approx(30.25)
    with pytest.raises(KeyError):
        mean(records, 'lpips')


def test_per_image_columns_follow_the_extra_names():
    bird = ImageRecord('bird', 35.123456, 0.9512345, {'chopped_psnr': 35.0, 'chopped_ssim': 0.95})
    sets = [_set('Set5', 'x2', [bird]),
            _set('Set5', 'x3', [ImageRecord('baby', math.inf, 1.0, {'chopped_psnr': 30.5, 'chopped_ssim': 0.9})])]
    assert per_image_text(sets).splitlines() == [
        'dataset,level,image,psnr,ssim,chopped_psnr,chopped_ssim',
        'Set5,x2,bird,35.1235,0.951234,35.0000,0.950000',
        'Set5,x3,baby,inf,1.000000,30.5000,0.900000',
    ]
    assert per_image_text([_set('Kodak24', '', [ImageRecord('k1', 30.0, 0.5)])]).splitlines() == [
        'dataset,level,image,psnr,ssim', 'Kodak24,,k1,30.0000,0.500000']


def test_write_results_writes_the_four_files(tmp_path):
    out = tmp_path / 'new' / 'out'
    sets = [_set('Set5', 'x2', [ImageRecord('bird', 35.0, 0.95)])]
    paths = write_results(str(out), 'sr', 'protocol\n\n| a |\n', sets, ['crop_border'], [[2]], 'title', 'protocol',
                          HtmlTable('', ['a'], [['1']]), notes=['a note'])
    assert sorted(p.name for p in out.iterdir()) == ['per_image.csv', 'report.html', 'table.csv', 'table.md']
    assert sorted(paths) == ['per_image.csv', 'report.html', 'table.csv', 'table.md']
    assert (out / 'table.md').read_text() == 'protocol\n\n| a |\n'
    assert (out / 'table.csv').read_text() == ('task,dataset,level,images,psnr,ssim,crop_border\n'
                                               'sr,Set5,x2,1,35.0000,0.950000,2\n')
    assert (out / 'per_image.csv').read_text() == 'dataset,level,image,psnr,ssim\nSet5,x2,bird,35.0000,0.950000\n'
    assert 'a note' in (out / 'report.html').read_text()
