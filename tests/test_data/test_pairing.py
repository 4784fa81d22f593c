"""rnan_basicsr/data/pairing.py: the one LQ/GT pairing and size rule, used by our datasets (scale 1) and by the
pre-flight of BasicSR's PairedImageDataset (HR = LR x scale)."""
import cv2
import pytest
from conftest import synthetic_image

from rnan_basicsr.command.data_checks import check_paired_images
from rnan_basicsr.data.pairing import check_sizes, guess_filename_tmpl, lq_key, pair_images
from rnan_basicsr.utils.errors import InputError


def _write(folder, name, h, w, seed=0):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), synthetic_image(h, w, seed=seed))


def test_lq_key_applies_the_template_to_the_name_and_keeps_the_sub_folder():
    assert lq_key('0001', '{}x2') == '0001x2'
    assert lq_key('sub/0001', '{}x2') == 'sub/0001x2'
    assert lq_key('a/b/c', '{}') == 'a/b/c'


def test_pairs_by_key_in_sub_folders_with_sizes_from_the_headers(tmp_path):
    _write(tmp_path / 'gt', 'sub/a.png', 32, 24)
    _write(tmp_path / 'gt', 'b.png', 16, 40)
    _write(tmp_path / 'lq', 'sub/ax2.png', 16, 12)
    _write(tmp_path / 'lq', 'bx2.jpg', 8, 20)
    pairs = pair_images('ds', str(tmp_path / 'gt'), str(tmp_path / 'lq'), filename_tmpl='{}x2')
    assert [p.key for p in pairs] == ['b', 'sub/a']
    assert [(p.gt_size, p.lq_size) for p in pairs] == [((16, 40), (8, 20)), ((32, 24), (16, 12))]
    assert pairs[1].lq_path.endswith('lq/sub/ax2.png') and pairs[1].gt_where == repr(pairs[1].gt_path)
    check_sizes(pairs, 'ds', scale=2)  # fits
    with pytest.raises(InputError, match=r'ds: LQ image .*bx2.jpg\' is 20x8 and its GT image .*b.png\' is 40x16, '
                       r'which does not fit scale 1 \(restoration at scale 1: both the same size\)\. Fix it\.'):
        check_sizes(pairs, 'ds', fix='Fix it.')
    with pytest.raises(InputError, match=r"GT image '.*b.png' is 40x16, smaller than gt_size 24"):
        check_sizes(pairs, 'ds', scale=2, gt_size=24)


def test_missing_and_extra_partners_name_the_first_and_the_counts(tmp_path):
    for name in ('a.png', 'b.png', 'c.png'):
        _write(tmp_path / 'gt', name, 8, 8)
    _write(tmp_path / 'lq', 'a.png', 8, 8)
    with pytest.raises(InputError) as error:
        pair_images('ds', str(tmp_path / 'gt'), str(tmp_path / 'lq'), names=('HR', 'LR'), fix_missing='Add them.')
    message = str(error.value)
    assert message.startswith("ds: LR and HR do not pair up: 2 of 3 HR images have no LR image in dataroot_lq")
    assert "The first is HR 'b.png'" in message and "should be 'b'" in message and message.endswith('Add them.')
    _write(tmp_path / 'lq', 'b.png', 8, 8)
    _write(tmp_path / 'lq', 'c.png', 8, 8)
    _write(tmp_path / 'lq', 'zz.png', 8, 8)
    with pytest.raises(InputError, match=r"1 images in dataroot_lq .* have no GT partner .* The first is 'zz.png'"):
        pair_images('ds', str(tmp_path / 'gt'), str(tmp_path / 'lq'))


def test_testing_rule_floors_and_the_message_says_what_the_lr_images_are(tmp_path):
    _write(tmp_path / 'gt', 'a.png', 33, 34)
    _write(tmp_path / 'lq', 'a.png', 16, 17)
    pairs = pair_images('ds', str(tmp_path / 'gt'), str(tmp_path / 'lq'), names=('HR', 'LR'))
    check_sizes(pairs, 'ds', scale=2, exact=False, names=('HR', 'LR'))  # BasicSR crops the HR when testing
    with pytest.raises(InputError, match=r'does not fit scale 2 \(HR = LR x scale\)'):
        check_sizes(pairs, 'ds', scale=2, exact=True, names=('HR', 'LR'))
    with pytest.raises(InputError, match=r'does not fit scale 4 \(HR // scale = LR\)\. These LR images are x2\.'):
        check_sizes(pairs, 'ds', scale=4, exact=False, names=('HR', 'LR'))


def test_paired_image_dataset_check_also_asks_basicsr(tmp_path):
    """Our pairing accepts any extension; BasicSR's folder pairing needs the same one: refused before the run."""
    _write(tmp_path / 'gt', 'a.png', 32, 32)
    _write(tmp_path / 'lq', 'a.jpg', 16, 16)
    options = dict(name='SR', type='PairedImageDataset', phase='val', scale=2, io_backend={'type': 'disk'},
                   dataroot_gt=str(tmp_path / 'gt'), dataroot_lq=str(tmp_path / 'lq'))
    with pytest.raises(InputError, match=r"SR: BasicSR's PairedImageDataset cannot pair dataroot_lq .*a\.png is not "
                       r'in lq_paths.*same extension'):
        check_paired_images(options, 'SR')
    (tmp_path / 'lq' / 'a.jpg').unlink()
    _write(tmp_path / 'lq', 'a.png', 16, 16)
    check_paired_images(options, 'SR')
    assert options['io_backend'] == {'type': 'disk'}  # BasicSR's constructor got a copy


def test_div2k_style_lr_names_suggest_the_filename_tmpl_that_pairs_them(tmp_path):
    for name in ('baby', 'bird', 'sub/head'):
        _write(tmp_path / 'gt', f'{name}.png', 8, 8)
        _write(tmp_path / 'lq', f'{name}x2.png', 4, 4)
    with pytest.raises(InputError) as error:
        pair_images('ds', str(tmp_path / 'gt'), str(tmp_path / 'lq'), names=('HR', 'LR'), fix_missing='Add them.')
    assert str(error.value).endswith("The LR names fit filename_tmpl: '{}x2', which pairs all 3 HR images: add it to "
                                     "this dataset's options.")
    assert guess_filename_tmpl(['a', 'b'], ['LR_a', 'LR_b']) == 'LR_{}'
    assert guess_filename_tmpl(['a', 'b'], ['ax2', 'bx3']) is None  # no one template pairs every image
    assert len(pair_images('ds', str(tmp_path / 'gt'), str(tmp_path / 'lq'), filename_tmpl='{}x2')) == 3
