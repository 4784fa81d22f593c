"""The paper's published numbers (rnan_basicsr/paper_results.py): every cell of the option files is listed, specific
cells hold the values of Tables 2-6, the counts per table are right, and the three states (published with or without
SSIM, not in the paper, not found) read as they should."""
import pytest
from conftest import ROOT
from os import path as osp

from rnan_basicsr import paper_results
from rnan_basicsr.paper_results import NOT_FOUND, NOT_IN_PAPER, PUBLISHED, Published
from rnan_basicsr.tasks import TASKS, option_file_name


def test_every_cell_of_the_option_files_is_listed():
    from rnan_basicsr.options.loader import load_option_file

    for key, task in TASKS.items():
        assert set(paper_results.RESULTS[key]) == set(task.test_sets), key
        assert key in paper_results.TABLES
        for level in task.levels:
            opt = load_option_file(osp.join(ROOT, 'options', option_file_name('test', task, level)))
            names = [dataset['name'] for dataset in opt['datasets'].values()]
            assert names == list(task.test_sets), (key, level)
            for name in names:
                assert paper_results.published(key, name, level).method == 'RNAN'
                assert paper_results.published(key, name, level, self_ensemble=True).method == 'RNAN+'
        assert paper_results.cells(key) == [(d, lv) for d in task.test_sets for lv in task.levels]


@pytest.mark.parametrize('cell,expected', [
    (('dn_rgb', 'Kodak24', 10), (37.24, None, 2)),  # Table 2, first RNAN cell
    (('dn_rgb', 'Urban100', 70), (27.45, None, 2)),  # Table 2, last
    (('dn_gray', 'BSD68', 50), (26.48, None, 3)),
    (('dn_gray', 'Urban100', 70), (25.89, None, 3)),
    (('demosaic', 'McMaster', None), (39.71, 0.9725, 4)),
    (('demosaic', 'CBSD68', None), (42.50, 0.9929, 4)),
    (('car', 'LIVE1', 10), (29.63, 0.8239, 5)),
    (('car', 'Classic5', 40), (34.27, 0.9061, 5)),
    (('sr', 'Set5', 2), (38.17, 0.9611, 6)),
    (('sr', 'B100', 4), (27.72, 0.7421, 6)),
    (('sr', 'Manga109', 4), (31.09, 0.9149, 6)),
])
def test_specific_cells_hold_the_papers_values(cell, expected):
    assert paper_results.published(*cell) == Published(*expected, 'RNAN', PUBLISHED)


@pytest.mark.parametrize('cell,expected', [
    (('sr', 'Set5', 2), (38.22, 0.9613)),
    (('sr', 'Set14', 2), (33.97, 0.9216)),
    (('sr', 'Urban100', 4), (26.75, 0.8052)),
    (('sr', 'Manga109', 4), (31.37, 0.9175)),
])
def test_rnan_plus_cells_of_table_6(cell, expected):
    assert paper_results.published(*cell, self_ensemble=True) == Published(*expected, 6, 'RNAN+', PUBLISHED)


def _statuses(self_ensemble=False):
    return {key: [paper_results.published(key, d, lv, self_ensemble).status for d, lv in paper_results.cells(key)]
            for key in TASKS}


def test_counts_of_published_cells_per_table():
    rnan = {key: statuses.count(PUBLISHED) for key, statuses in _statuses().items()}
    # Table 2: 3 sets x 4 sigmas; Table 3: the same; Table 4: 4 sets; Table 5: 2 sets x 4 qualities;
    # Table 6: 5 sets x (x2, x4)
    assert rnan == {'dn_rgb': 12, 'dn_gray': 12, 'car': 8, 'demosaic': 4, 'sr': 10}
    plus = {key: statuses.count(PUBLISHED) for key, statuses in _statuses(self_ensemble=True).items()}
    assert plus == {'dn_rgb': 0, 'dn_gray': 0, 'car': 0, 'demosaic': 0, 'sr': 10}
    assert all(NOT_FOUND not in statuses for statuses in _statuses().values())


def test_every_published_value_is_a_plausible_pair_of_its_table():
    checked = 0
    for self_ensemble in (False, True):
        for key in TASKS:
            for dataset, level in paper_results.cells(key):
                value = paper_results.published(key, dataset, level, self_ensemble)
                if value.status != PUBLISHED:
                    continue
                checked += 1
                assert 20 < value.psnr < 45, (key, dataset, level, value)
                assert value.table == {'dn_rgb': 2, 'dn_gray': 3, 'demosaic': 4, 'car': 5, 'sr': 6}[key]
                # the denoising tables give PSNR only; the others always give SSIM
                if key in ('dn_rgb', 'dn_gray'):
                    assert value.ssim is None, (key, dataset, level)
                else:
                    assert 0.7 < value.ssim < 1, (key, dataset, level, value)
    assert checked == 12 + 12 + 4 + 8 + 10 + 10


def test_x3_is_not_in_the_paper_which_is_not_not_found():
    for dataset in TASKS['sr'].test_sets:
        for self_ensemble in (False, True):
            value = paper_results.published('sr', dataset, 3, self_ensemble)
            assert value.status == NOT_IN_PAPER and value.psnr is None and value.table == 6
            assert paper_results.describe(value) == 'not in the paper'
            assert paper_results.difference(30.0, 0.9, value) == 'n/a (not in the paper)'
    assert _statuses()['sr'].count(NOT_IN_PAPER) == 5
    assert paper_results.coverage_text('sr') == ('paper values (RNAN): 10 of 15 cells published in Table 6; 5 not in '
                                                 'the paper (Table 6 has x2 and x4 only)')


def test_rnan_plus_of_the_restoration_tables_is_not_in_the_paper():
    value = paper_results.published('car', 'LIVE1', 10, self_ensemble=True)
    assert value.status == NOT_IN_PAPER and paper_results.describe(value) == 'not in the paper'
    assert 'RNAN+ is reported in Table 6' in paper_results.coverage_text('dn_rgb', self_ensemble=True)


def test_psnr_only_cells_show_ssim_as_absent():
    value = paper_results.published('dn_rgb', 'CBSD68', 30)
    assert paper_results.describe(value) == '30.63 / — (Table 2)'
    assert paper_results.difference(30.70, 0.85, value) == '+0.07 / —'
    assert paper_results.coverage_text('dn_gray') == ('paper values (RNAN): 12 of 12 cells published in Table 3 '
                                                      '(PSNR only: the table gives no SSIM, shown as "—")')


def test_published_and_not_found_read_as_such(monkeypatch):
    described = paper_results.describe(Published(30.0, 0.85, 5, 'RNAN'))
    assert described == '30.00 / 0.8500 (Table 5)'
    assert paper_results.difference(30.5, 0.84, Published(30.0, 0.85, 5, 'RNAN')) == '+0.50 / -0.0100'
    monkeypatch.setitem(paper_results.RESULTS['car']['LIVE1'], 10, None)
    value = paper_results.published('car', 'LIVE1', 10)
    assert value.status == NOT_FOUND and paper_results.describe(value) == 'not found'
    with pytest.raises(KeyError):
        paper_results.published('car', 'Set5', 10)
