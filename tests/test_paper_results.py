"""The paper's published numbers (rnan_basicsr/paper_results.py) cover every cell of the option files' test sets."""
import pytest
from conftest import ROOT
from os import path as osp

from rnan_basicsr import paper_results
from rnan_basicsr.tasks import TASKS, option_file_name


def test_every_cell_of_the_option_files_is_listed():
    from rnan_basicsr.options.loader import load_option_file

    for key, task in TASKS.items():
        assert set(paper_results.RESULTS[key]) == set(task.test_sets), key
        assert key in paper_results.TABLES
        for level in task.levels:
            opt = load_option_file(osp.join(ROOT, 'options', option_file_name('test', task, level)))
            for dataset in opt['datasets'].values():
                value = paper_results.published(key, dataset['name'], level)
                assert value.method == 'RNAN'
                assert level in paper_results.RESULTS[key][dataset['name']]
                plus = paper_results.published(key, dataset['name'], level, self_ensemble=True)
                assert plus.method == 'RNAN+'
        assert set(c for c in paper_results.cells(key)) == {(d, lv) for d in task.test_sets for lv in task.levels}


@pytest.mark.parametrize('table', [paper_results.RESULTS, paper_results.PLUS])
def test_values_once_filled_in_are_psnr_ssim_pairs_with_their_table(table):
    for key, sets in table.items():
        for dataset, levels in sets.items():
            for level, value in levels.items():
                if value is None:
                    continue
                psnr, ssim = value
                assert 15 < psnr < 50 and 0.3 < ssim <= 1, (key, dataset, level, value)
                assert paper_results.TABLES[key].number in (2, 3, 4, 5, 6), key


def test_a_missing_value_reads_not_found():
    value = paper_results.published('car', 'LIVE1', 10)
    if value.psnr is None:
        assert paper_results.describe(value) == 'not found'
    assert 'cells found in the paper' in paper_results.coverage_text('car')
    with pytest.raises(KeyError):
        paper_results.published('car', 'Set5', 10)
    described = paper_results.describe(paper_results.Published(30.0, 0.85, 5, 'RNAN'))
    assert described == '30.00 / 0.8500 (Table 5)'
